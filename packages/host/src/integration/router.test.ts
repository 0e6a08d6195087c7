import * as http from "node:http";
import {
  Code,
  ConnectError,
  createClient,
  type Interceptor,
  type Transport,
} from "@connectrpc/connect";
import {
  connectNodeAdapter,
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
} from "@connectrpc/connect-node";
import { EchoService } from "@cpg/examples-proto";
import { createPlugin, type Plugin, provide, silentLogger } from "@cpg/plugin-sdk";
import {
  bearer,
  CALLER_ID_HEADER,
  HealthState,
  PluginLifecycle,
  RUNTIME_ID_HEADER,
  ServiceRegistry,
} from "@cpg/protocol";
import { listenOnFreePort, waitFor } from "@cpg/test-utils";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { HostEvent } from "../events/host-event.js";
import type { Host } from "../host.js";
import { countMessages } from "../test-support/echo-streams.js";
import { handshakeClient, handshakeRequest, testHost } from "../test-support/test-host.js";

const seenCallers: string[] = [];
const cancelled: string[] = [];

const echo = provide(EchoService, {
  async echo(req, ctx) {
    seenCallers.push(ctx.requestHeader.get(CALLER_ID_HEADER) ?? "");
    if (req.delayMs > 0) {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(resolve, req.delayMs);
        ctx.signal.addEventListener("abort", () => {
          clearTimeout(timer);
          cancelled.push(req.message);
          reject(ctx.signal.reason);
        });
      });
    }
    return { message: req.message, callerId: ctx.requestHeader.get(CALLER_ID_HEADER) ?? "" };
  },
  async *echoServerStream(req, ctx) {
    let i = 0;
    try {
      // The caller went away and the router passed that on.
      ctx.signal.addEventListener("abort", () => cancelled.push(req.message));
      for (; i < req.count && !ctx.signal.aborted; i++) yield { message: req.message, index: i };
    } finally {
      // Ended early: the caller went away and the router passed that on.
      if (i < req.count) cancelled.push(req.message);
    }
  },
  echoClientStream: countMessages,
  async *echoBidiStream(reqs) {
    for await (const r of reqs) yield { message: r.message };
  },
});

let host: Host;
let hostUrl: string;
let provider: Plugin;
let caller: Plugin;
const events: HostEvent[] = [];

beforeAll(async () => {
  host = testHost();
  host.events.subscribe((e) => events.push(e));
  ({ url: hostUrl } = await host.listen());
  provider = createPlugin({
    selfId: "echo-provider",
    version: "1.0.0",
    services: [echo],
    logger: silentLogger,
  });
  await provider.listen();
  await provider.join(hostUrl);
  caller = createPlugin({
    selfId: "echo-caller",
    version: "1.0.0",
    requires: [{ type: "echo" }],
    logger: silentLogger,
  });
  await caller.join(hostUrl);
  // The provider registers its service by itself once it has an identity.
  await waitFor(() => host.registry.providers("echo").length === 1, {
    description: "echo registered",
  });
});

afterAll(async () => {
  await caller?.close(100);
  await provider?.close(100);
  await host?.close();
});

const providerId = () => provider.credentials!.runtimeId;
const routeUrl = () => `${hostUrl}/services/echo/${providerId()}`;
const credentials =
  (p: Plugin): Interceptor =>
  (next) =>
  (req) => {
    req.header.set(RUNTIME_ID_HEADER, p.credentials!.runtimeId);
    req.header.set("authorization", bearer(p.credentials!.token));
    return next(req);
  };

const transports: Array<[string, () => Transport]> = [
  ["gRPC", () => createGrpcTransport({ baseUrl: routeUrl(), interceptors: [credentials(caller)] })],
  [
    "Connect over HTTP/2",
    () =>
      createConnectTransport({
        baseUrl: routeUrl(),
        httpVersion: "2",
        useBinaryFormat: true,
        interceptors: [credentials(caller)],
      }),
  ],
  [
    "gRPC-Web over HTTP/2",
    () =>
      createGrpcWebTransport({
        baseUrl: routeUrl(),
        httpVersion: "2",
        useBinaryFormat: true,
        interceptors: [credentials(caller)],
      }),
  ],
];

describe("the router", () => {
  it("routes a typed client of the SDK through the host, with the caller's identity", async () => {
    const client = caller.client(EchoService);
    const res = await client.echo({ message: "hi" });
    expect(res).toMatchObject({ message: "hi", callerId: caller.credentials!.runtimeId });
    expect(events.some((e) => e.type === "route.completed" && e.code === "ok")).toBe(true);
  });

  it("never passes a forged X-Plugin-Caller-ID to the provider", async () => {
    const client = caller.client(EchoService);
    const res = await client.echo(
      { message: "forged" },
      { headers: { [CALLER_ID_HEADER]: "someone-else" } },
    );
    expect(res.callerId).toBe(caller.credentials!.runtimeId);
    expect(seenCallers).not.toContain("someone-else");
  });

  it("accepts the Go method-only form of {rest}", async () => {
    const transport = createConnectTransport({
      baseUrl: hostUrl,
      httpVersion: "1.1",
      useBinaryFormat: true,
      interceptors: [
        credentials(caller),
        // Rewrite /cpg.examples.v1.EchoService/Echo to /services/echo/{id}/Echo, as Go callers send it.
        (next) => (req) => next({ ...req, url: `${hostUrl}/services/echo/${providerId()}/Echo` }),
      ],
    });
    const res = await createClient(EchoService, transport).echo({ message: "go" });
    expect(res.message).toBe("go");
  });

  it.each(transports)(
    "streams 1,000 messages each way in all three streaming kinds over %s",
    async (_, make) => {
      const client = createClient(EchoService, make());
      let n = 0;
      for await (const m of client.echoServerStream({ message: "s", count: 1000 })) {
        expect(m.index).toBe(n++);
      }
      expect(n).toBe(1000);
      async function* upload() {
        for (let i = 0; i < 1000; i++) yield { message: `c${i}` };
      }
      expect(await client.echoClientStream(upload())).toMatchObject({ count: 1000, last: "c999" });
      if (_ === "gRPC-Web over HTTP/2") return; // gRPC-Web has no bidi streaming
      let answers = 0;
      async function* talk() {
        for (let i = 0; i < 1000; i++) yield { message: `b${i}` };
      }
      for await (const m of client.echoBidiStream(talk())) {
        expect(m.message).toBe(`b${answers++}`);
      }
      expect(answers).toBe(1000);
    },
  );

  it("ends a call at its deadline with deadline_exceeded, and the provider sees the cancellation", async () => {
    const client = createClient(EchoService, transports[0]![1]());
    const started = performance.now();
    const error = await client
      .echo({ message: "slow", delayMs: 10_000 }, { timeoutMs: 200 })
      .catch((e) => e);
    expect(ConnectError.from(error).code).toBe(Code.DeadlineExceeded);
    expect(performance.now() - started).toBeLessThan(5000);
    await expect.poll(() => cancelled).toContain("slow");
  });

  it("cuts a long caller deadline to the host's maximum and forwards it", async () => {
    const short = testHost({ router: { maxTimeoutMs: 150 } });
    try {
      const { url } = await short.listen();
      const p = createPlugin({
        selfId: "slow-echo",
        version: "1.0.0",
        services: [echo],
        logger: silentLogger,
      });
      await p.listen();
      await p.join(url);
      const c = createPlugin({ selfId: "impatient", version: "1.0.0", logger: silentLogger });
      await c.join(url);
      await expect.poll(() => short.registry.providers("echo").length).toBe(1);
      const error = await c
        .client(EchoService)
        .echo({ message: "capped", delayMs: 10_000 }, { timeoutMs: 60_000 })
        .catch((e) => e);
      expect(ConnectError.from(error).code).toBe(Code.DeadlineExceeded);
      await expect.poll(() => cancelled).toContain("capped");
      await c.close(100);
      await p.close(100);
    } finally {
      await short.close();
    }
  });

  it("ends the provider's stream when the caller cancels", async () => {
    const abort = new AbortController();
    const client = createClient(EchoService, transports[0]![1]());
    let received = 0;
    await expect(
      (async () => {
        for await (const _ of client.echoServerStream(
          { message: "cancel-me", count: 1_000_000 },
          { signal: abort.signal },
        )) {
          if (++received === 10) abort.abort();
        }
      })(),
    ).rejects.toMatchObject({ code: Code.Canceled });
    await expect.poll(() => cancelled, { timeout: 5000 }).toContain("cancel-me");
  });

  it.each([
    ["no credentials", {}, Code.Unauthenticated],
    ["a malformed Authorization header", { authorization: "Token x" }, Code.Unauthenticated],
    ["a wrong token", { authorization: "Bearer wrong" }, Code.Unauthenticated],
  ])("refuses a call with %s", async (_, headers, code) => {
    const runtimeId = caller.credentials!.runtimeId;
    const client = createClient(
      EchoService,
      createGrpcTransport({
        baseUrl: routeUrl(),
        interceptors: [
          (next) => (req) => {
            req.header.set(RUNTIME_ID_HEADER, runtimeId);
            for (const [k, v] of Object.entries(headers)) req.header.set(k, v as string);
            return next(req);
          },
        ],
      }),
    );
    await expect(client.echo({ message: "x" })).rejects.toMatchObject({ code });
  });

  it("refuses a provider that did not register the service type in the URL", async () => {
    const transport = createConnectTransport({
      baseUrl: `${hostUrl}/services/echo/${caller.credentials!.runtimeId}`,
      httpVersion: "1.1",
      interceptors: [credentials(caller)],
    });
    await expect(createClient(EchoService, transport).echo({ message: "x" })).rejects.toMatchObject(
      {
        code: Code.NotFound,
        rawMessage: `provider "${caller.credentials!.runtimeId}" does not provide service type "echo"`,
      },
    );
  });

  it("refuses calls to an unhealthy provider until it recovers", async () => {
    const lifecycle = createClient(PluginLifecycle, provider.hostTransport);
    await lifecycle.reportHealth({ state: HealthState.UNHEALTHY });
    const client = createClient(EchoService, transports[0]![1]());
    await expect(client.echo({ message: "x" })).rejects.toMatchObject({ code: Code.Unavailable });
    await lifecycle.reportHealth({ state: HealthState.HEALTHY });
    expect((await client.echo({ message: "back" })).message).toBe("back");
  });

  it("takes out a provider that fails repeatedly, until it reports healthy", async () => {
    // A provider that registered an address where nothing listens.
    const ghost = await handshakeClient(
      createConnectTransport({ baseUrl: hostUrl, httpVersion: "1.1" }),
    ).handshake(handshakeRequest({ selfId: "ghost" }));
    const ghostTransport = createConnectTransport({
      baseUrl: hostUrl,
      httpVersion: "1.1",
      interceptors: [
        (next) => (req) => {
          req.header.set(RUNTIME_ID_HEADER, ghost.runtimeId);
          req.header.set("authorization", bearer(ghost.runtimeToken));
          return next(req);
        },
      ],
    });
    const dead = await listenOnFreePort(http.createServer());
    const deadUrl = dead.url;
    await dead.close();
    await createClient(ServiceRegistry, ghostTransport).registerService({
      serviceType: "ghost",
      version: "1.0.0",
      endpointPath: "/cpg.examples.v1.EchoService/",
      metadata: { base_url: deadUrl, http2: "true" },
    });
    const client = createClient(
      EchoService,
      createGrpcTransport({
        baseUrl: `${hostUrl}/services/ghost/${ghost.runtimeId}`,
        interceptors: [credentials(caller)],
      }),
    );
    for (let i = 0; i < 5; i++) {
      await expect(client.echo({ message: "x" })).rejects.toMatchObject({ code: Code.Unavailable });
    }
    expect(host.registry.isEjected(ghost.runtimeId)).toBe(true);
    expect(host.registry.routable("ghost")).toEqual([]);
    await createClient(PluginLifecycle, ghostTransport).reportHealth({
      state: HealthState.HEALTHY,
    });
    expect(host.registry.isEjected(ghost.runtimeId)).toBe(false);
  });

  it("reaches a provider that speaks only HTTP/1.1 (as Go plugins do)", async () => {
    const h1 = await listenOnFreePort(
      http.createServer(
        connectNodeAdapter({
          routes: (router) => router.service(EchoService, echo.implementation),
        }),
      ),
    );
    try {
      const go = await handshakeClient(
        createConnectTransport({ baseUrl: hostUrl, httpVersion: "1.1" }),
      ).handshake(handshakeRequest({ selfId: "go-echo" }));
      const goTransport = createConnectTransport({
        baseUrl: hostUrl,
        httpVersion: "1.1",
        useBinaryFormat: true,
        interceptors: [
          (next) => (req) => {
            req.header.set(RUNTIME_ID_HEADER, go.runtimeId);
            req.header.set("authorization", bearer(go.runtimeToken));
            return next(req);
          },
        ],
      });
      await createClient(ServiceRegistry, goTransport).registerService({
        serviceType: "go-echo",
        version: "1.0.0",
        endpointPath: "/cpg.examples.v1.EchoService/",
        metadata: { base_url: h1.url },
      });
      const base = `${hostUrl}/services/go-echo/${go.runtimeId}`;
      const connect = createClient(
        EchoService,
        createConnectTransport({
          baseUrl: base,
          httpVersion: "2",
          useBinaryFormat: true,
          interceptors: [credentials(caller)],
        }),
      );
      expect((await connect.echo({ message: "h1" })).message).toBe("h1");
      let n = 0;
      for await (const _ of connect.echoServerStream({ message: "s", count: 100 })) n++;
      expect(n).toBe(100);
      const web = createClient(
        EchoService,
        createGrpcWebTransport({
          baseUrl: base,
          httpVersion: "1.1",
          useBinaryFormat: true,
          interceptors: [credentials(caller)],
        }),
      );
      expect((await web.echo({ message: "web" })).message).toBe("web");
    } finally {
      await h1.close();
    }
  });
});
