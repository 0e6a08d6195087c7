import * as net from "node:net";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import { EchoResponseSchema, EchoService } from "@cpg/examples-proto";
import { type Plugin, provide } from "@cpg/plugin-sdk";
import {
  AUTHORIZATION_HEADER,
  CALLER_ID_HEADER,
  HealthState,
  RUNTIME_ID_HEADER,
} from "@cpg/protocol";
import { waitFor } from "@cpg/test-utils";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { AuditEvent } from "../audit/audit-sink.js";
import type { HostEvent } from "../events/host-event.js";
import type { Host } from "../host.js";
import type { HostOptions } from "../host-options.js";
import { countMessages } from "../test-support/echo-streams.js";
import { testHost } from "../test-support/test-host.js";

type EchoImpl = Partial<ServiceImpl<typeof EchoService>>;
type RouteCompleted = Extract<HostEvent, { type: "route.completed" }>;

let host: Host | undefined;
afterEach(async () => {
  vi.restoreAllMocks();
  await host?.close();
  host = undefined;
});

/**
 * A host that never listens, with two plugins started by the platform's
 * in-memory launcher: "echo" provides `impl` as service type "echo", "caller"
 * requires it (unless `callerRequires` is false; `"declared"` declares it
 * without waiting for it, so the caller does not watch it).
 */
async function inProcessPair(
  impl: EchoImpl,
  options: { host?: HostOptions; callerRequires?: boolean | "declared" } = {},
) {
  host = testHost(options.host);
  const events: HostEvent[] = [];
  host.events.subscribe((event) => events.push(event));
  let provider: Plugin | undefined;
  let caller: Plugin | undefined;
  const requires =
    options.callerRequires === false
      ? []
      : [{ type: "echo", requiredForStartup: options.callerRequires !== "declared" }];
  await host.platform.start([
    {
      name: "echo",
      provides: [{ type: "echo", version: "1.0.0" }],
      strategy: {
        kind: "in-memory",
        plugin: {
          selfId: "echo",
          version: "1.0.0",
          services: [provide(EchoService, impl, { type: "echo" })],
        },
        attach(p) {
          provider = p;
          return undefined;
        },
      },
    },
    {
      name: "caller",
      requires,
      strategy: {
        kind: "in-memory",
        plugin: { selfId: "caller", version: "1.0.0", requires },
        attach(p) {
          caller = p;
          return undefined;
        },
      },
    },
  ]);
  const h = host;
  const providerId = provider!.credentials!.runtimeId;
  return {
    provider: provider!,
    caller: caller!,
    providerId,
    callerId: () => caller!.credentials!.runtimeId,
    client: caller!.client(EchoService, { type: "echo" }),
    events,
    completed: () => events.filter((e): e is RouteCompleted => e.type === "route.completed"),
    inFlight: () => h.router.inFlight(providerId),
  };
}

async function rejection(promise: Promise<unknown>): Promise<ConnectError> {
  try {
    await promise;
  } catch (error) {
    return ConnectError.from(error);
  }
  throw new Error("expected the call to fail");
}

describe("calls between in-process plugins", () => {
  it("reach the provider without a listening host, as the router's caller", async () => {
    let seen: Headers | undefined;
    const pair = await inProcessPair({
      echo(req, ctx) {
        seen = new Headers(ctx.requestHeader);
        return {
          message: `echo:${req.message}`,
          callerId: ctx.requestHeader.get(CALLER_ID_HEADER)!,
        };
      },
    });
    expect(host!.url).toBeUndefined();
    const connect = vi.spyOn(net.Socket.prototype, "connect");
    const listen = vi.spyOn(net.Server.prototype, "listen");

    const res = await pair.client.echo({ message: "hi" });

    expect(connect).not.toHaveBeenCalled();
    expect(listen).not.toHaveBeenCalled();
    expect(res).toMatchObject({ message: "echo:hi", callerId: pair.callerId() });
    expect(seen!.get(CALLER_ID_HEADER)).toBe(pair.callerId());
    expect(seen!.has(AUTHORIZATION_HEADER)).toBe(false);
    expect(seen!.has(RUNTIME_ID_HEADER)).toBe(false);
    expect(pair.completed()).toEqual([
      expect.objectContaining({
        callerId: pair.callerId(),
        providerId: pair.providerId,
        serviceType: "echo",
        procedure: "/cpg.examples.v1.EchoService/Echo",
        code: "ok",
      }),
    ]);
    expect(pair.inFlight()).toBe(0);
  });

  it("clone messages: neither side sees the other's mutations", async () => {
    // The provider answers with one shared message object.
    const shared = create(EchoResponseSchema, { message: "shared" });
    let received: { message: string } | undefined;
    const pair = await inProcessPair({
      echo(req) {
        received = req;
        req.message = "changed by the provider";
        return shared;
      },
    });
    const request = { message: "original" };

    const first = await pair.client.echo(request);
    expect(received!.message).toBe("changed by the provider");
    expect(request.message).toBe("original");
    expect(first).not.toBe(shared);
    first.message = "changed by the caller";

    const second = await pair.client.echo(request);
    expect(shared.message).toBe("shared");
    expect(second.message).toBe("shared");
  });

  it("serve server, client and bidi streams", async () => {
    const pair = await inProcessPair({
      async *echoServerStream(req) {
        for (let i = 0; i < req.count; i++) yield { message: req.message, index: i };
      },
      echoClientStream: countMessages,
      async *echoBidiStream(requests) {
        for await (const r of requests) yield { message: `re:${r.message}` };
      },
    });

    const server: Array<[string, number]> = [];
    for await (const m of pair.client.echoServerStream({ message: "s", count: 3 })) {
      server.push([m.message, m.index]);
    }
    expect(server).toEqual([
      ["s", 0],
      ["s", 1],
      ["s", 2],
    ]);

    async function* uploads() {
      yield { message: "a" };
      yield { message: "b" };
    }
    expect(await pair.client.echoClientStream(uploads())).toMatchObject({ count: 2, last: "b" });

    const bidi: string[] = [];
    for await (const m of pair.client.echoBidiStream(uploads())) bidi.push(m.message);
    expect(bidi).toEqual(["re:a", "re:b"]);

    await waitFor(() => pair.completed().length === 3, { description: "three routed calls" });
    expect(pair.completed().map((e) => [e.procedure, e.code])).toEqual([
      ["/cpg.examples.v1.EchoService/EchoServerStream", "ok"],
      ["/cpg.examples.v1.EchoService/EchoClientStream", "ok"],
      ["/cpg.examples.v1.EchoService/EchoBidiStream", "ok"],
    ]);
    expect(pair.inFlight()).toBe(0);
  });

  it("hand the provider's error to the caller with its code, message and metadata", async () => {
    const pair = await inProcessPair({
      echo() {
        throw new ConnectError("nope", Code.FailedPrecondition, { "x-reason": "closed" });
      },
    });

    const error = await rejection(pair.client.echo({ message: "x" }));

    expect(error.code).toBe(Code.FailedPrecondition);
    expect(error.rawMessage).toBe("nope");
    expect(error.metadata.get("x-reason")).toBe("closed");
    expect(pair.completed().map((e) => e.code)).toEqual(["failed_precondition"]);
  });

  it("refuse calls to an UNHEALTHY provider with unavailable", async () => {
    const pair = await inProcessPair({ echo: (req) => ({ message: req.message }) });
    expect((await pair.client.echo({ message: "up" })).message).toBe("up");
    await pair.provider.setHealth({ state: HealthState.UNHEALTHY, reason: "broken" });
    expect(host!.health.get(pair.providerId)?.state).toBe(HealthState.UNHEALTHY);

    const refused = await rejection(pair.client.echo({ message: "down" }));
    expect(refused.code).toBe(Code.Unavailable);
    expect(refused.rawMessage).toBe(`provider "${pair.providerId}" of "echo" is not available`);

    // The SDK forgot the endpoint: the next call discovers again, and there
    // is no provider left to route to.
    const rediscovered = await rejection(pair.client.echo({ message: "again" }));
    expect(rediscovered.code).toBe(Code.NotFound);
    expect(rediscovered.rawMessage).toBe('no available provider of service type "echo"');
    // Refusals are not routed calls.
    expect(pair.completed()).toHaveLength(1);
    expect(pair.inFlight()).toBe(0);
  });

  it("are offered only for endpoints of in-process providers", async () => {
    const pair = await inProcessPair({ echo: (req) => ({ message: req.message }) });
    expect(host!.createRouterTransport(`/services/echo/${pair.providerId}`, [])).toBeDefined();
    // Unknown providers and other URLs keep the network route.
    expect(host!.createRouterTransport("/services/echo/rt-unknown", [])).toBeUndefined();
    expect(host!.createRouterTransport("/not-a-route", [])).toBeUndefined();
  });

  it("apply the caller policy under the production profile", async () => {
    const production: HostOptions = {
      profile: "production",
      allowInsecure: true,
      policies: { registration: { echo: ["echo"] } },
    };
    const denied = await inProcessPair(
      { echo: (req) => ({ message: req.message }) },
      { host: production, callerRequires: false },
    );
    // Not allowed to discover it: refused before the router.
    const undiscoverable = await rejection(denied.client.echo({ message: "x" }));
    expect(undiscoverable.code).toBe(Code.PermissionDenied);
    expect(undiscoverable.rawMessage).toBe('plugin "caller" may not discover service type "echo"');
    await host!.close();

    // Allowed to discover it, but not to call it: refused by the router.
    const pair = await inProcessPair(
      { echo: (req) => ({ message: req.message }) },
      {
        host: {
          ...production,
          policies: { ...production.policies, discovery: { caller: ["echo"] } },
        },
        callerRequires: false,
      },
    );
    const refused = await rejection(pair.client.echo({ message: "x" }));
    expect(refused.code).toBe(Code.PermissionDenied);
    expect(refused.rawMessage).toBe(
      'plugin "caller" may not call service type "echo"; declare it in requires',
    );
    expect(pair.completed()).toEqual([]);
    expect(pair.inFlight()).toBe(0);
  });

  it("let a caller whose identity was revoked join again and retry the call once", async () => {
    const callers: string[] = [];
    const audit: AuditEvent[] = [];
    const pair = await inProcessPair(
      {
        echo(req, ctx) {
          callers.push(ctx.requestHeader.get(CALLER_ID_HEADER)!);
          return { message: req.message };
        },
      },
      {
        host: { audit: (event) => audit.push(event) },
        // No dependency watch: the SDK reopens it for its new identity, and a
        // watch aborted before the host answered it is never counted out by
        // the drain interceptor, which would hold the host's close for its
        // whole shutdownTimeoutMs.
        callerRequires: "declared",
      },
    );
    const revoked = pair.callerId();
    expect((await pair.client.echo({ message: "before" })).message).toBe("before");
    host!.identities.revoke(revoked);

    // The router answers unauthenticated; the SDK's authenticating
    // interceptor handshakes for a new identity and sends the same call
    // again, which the provider serves.
    expect((await pair.client.echo({ message: "after" })).message).toBe("after");

    const fresh = pair.callerId();
    expect(fresh).not.toBe(revoked);
    expect(host!.identities.get(fresh)?.selfId).toBe("caller");
    expect(callers).toEqual([revoked, fresh]);
    expect(pair.completed().map((e) => [e.callerId, e.code])).toEqual([
      [revoked, "ok"],
      [fresh, "ok"],
    ]);
    expect(audit.filter((e) => e.event === "auth.failed" && e.where === "router")).toEqual([
      expect.objectContaining({
        where: "router",
        procedure: "/cpg.examples.v1.EchoService/Echo",
        claimed_runtime_id: revoked,
        client_address: "in-process",
        reason: "invalid, expired or revoked runtime token",
      }),
    ]);
  });

  it("end a call at its deadline, aborting the provider's signal", async () => {
    let providerSignal: AbortSignal | undefined;
    const pair = await inProcessPair({
      echo(_req, ctx) {
        providerSignal = ctx.signal;
        return new Promise((_resolve, reject) => {
          ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason), { once: true });
        });
      },
    });

    const error = await rejection(pair.client.echo({ message: "slow" }, { timeoutMs: 50 }));

    expect(error.code).toBe(Code.DeadlineExceeded);
    expect(providerSignal?.aborted).toBe(true);
    expect(pair.completed().map((e) => e.code)).toEqual(["deadline_exceeded"]);
    expect(pair.inFlight()).toBe(0);
  });

  it("end a server stream at its deadline even when the provider ignores its signal", async () => {
    let release: (() => void) | undefined;
    const pair = await inProcessPair({
      async *echoServerStream(req) {
        yield { message: req.message, index: 0 };
        // Stuck until the test lets it go, whatever the signal says.
        await new Promise<void>((resolve) => {
          release = resolve;
        });
        yield { message: req.message, index: 1 };
      },
    });
    const received: number[] = [];

    const error = await rejection(
      (async () => {
        for await (const m of pair.client.echoServerStream(
          { message: "s", count: 2 },
          { timeoutMs: 50 },
        )) {
          received.push(m.index);
        }
      })(),
    );

    expect(error.code).toBe(Code.DeadlineExceeded);
    expect(received).toEqual([0]);
    await waitFor(() => pair.completed().length === 1, { description: "route.completed" });
    expect(pair.completed()[0]!.code).toBe("deadline_exceeded");
    expect(pair.inFlight()).toBe(0);
    release?.();
  });

  // A server stream that sends one message, then waits for its caller to go away.
  function waitingStream() {
    const state = { signal: undefined as AbortSignal | undefined, waiting: false, finished: false };
    const impl: EchoImpl = {
      async *echoServerStream(req, ctx) {
        state.signal = ctx.signal;
        try {
          yield { message: req.message, index: 0 };
          state.waiting = true;
          if (!ctx.signal.aborted) {
            await new Promise((resolve) => {
              ctx.signal.addEventListener("abort", resolve, { once: true });
            });
          }
          yield { message: req.message, index: 1 };
        } finally {
          state.finished = true;
        }
      },
    };
    return { state, impl };
  }

  it("cancel the provider's server stream when the caller aborts while waiting", async () => {
    const { state, impl } = waitingStream();
    const pair = await inProcessPair(impl);
    const abort = new AbortController();
    const stream = pair.client
      .echoServerStream({ message: "s", count: 2 }, { signal: abort.signal })
      [Symbol.asyncIterator]();
    expect((await stream.next()).value?.index).toBe(0);
    const next = rejection(stream.next());
    await waitFor(() => state.waiting, { description: "the provider to wait" });

    abort.abort();

    expect((await next).code).toBe(Code.Canceled);
    expect(state.signal?.aborted).toBe(true);
    await waitFor(() => state.finished, { description: "the provider's generator to finish" });
    expect(pair.completed().map((e) => e.code)).toEqual(["canceled"]);
    expect(pair.inFlight()).toBe(0);
  });

  it("cancel the provider's server stream when the caller aborts between messages", async () => {
    const { state, impl } = waitingStream();
    const pair = await inProcessPair(impl);
    const abort = new AbortController();
    const stream = pair.client
      .echoServerStream({ message: "s", count: 2 }, { signal: abort.signal })
      [Symbol.asyncIterator]();
    expect((await stream.next()).value?.index).toBe(0);

    // The provider is suspended at its first yield: it must not send more.
    abort.abort();

    expect((await rejection(stream.next())).code).toBe(Code.Canceled);
    expect(state.signal?.aborted).toBe(true);
    await waitFor(() => state.finished, { description: "the provider's generator to finish" });
    expect(state.waiting).toBe(false);
    expect(pair.completed().map((e) => e.code)).toEqual(["canceled"]);
    expect(pair.inFlight()).toBe(0);
  });

  it("count out a stream the caller aborts before reading it", async () => {
    const { impl } = waitingStream();
    const pair = await inProcessPair(impl);
    const abort = new AbortController();
    // Connect's client starts the call at once; nothing ever reads it.
    pair.client.echoServerStream({ message: "s", count: 2 }, { signal: abort.signal });
    await waitFor(() => pair.inFlight() === 1, { description: "the call to be admitted" });

    abort.abort();

    expect(pair.inFlight()).toBe(0);
    expect(pair.completed().map((e) => e.code)).toEqual(["canceled"]);
    expect(await host!.router.waitIdle(pair.providerId, 1000)).toBe(true);
  });

  it("count a call in flight to its provider until it ends", async () => {
    let answer: (() => void) | undefined;
    let started: () => void = () => {};
    const providerReached = new Promise<void>((resolve) => {
      started = resolve;
    });
    const pair = await inProcessPair({
      echo(req) {
        started();
        return new Promise((resolve) => {
          answer = () => resolve({ message: req.message });
        });
      },
    });

    const call = pair.client.echo({ message: "held" });
    await providerReached;
    expect(pair.inFlight()).toBe(1);
    answer!();
    expect((await call).message).toBe("held");
    expect(pair.inFlight()).toBe(0);
    expect(await host!.router.waitIdle(pair.providerId, 1000)).toBe(true);
  });

  it("apply the router's rate limit per caller", async () => {
    // A rate that cannot refill a token during the test: only the burst passes.
    const pair = await inProcessPair(
      { echo: (req) => ({ message: req.message }) },
      { host: { rateLimits: {}, router: { rateLimit: { rate: 0.001, burst: 2 } } } },
    );

    expect((await pair.client.echo({ message: "1" })).message).toBe("1");
    expect((await pair.client.echo({ message: "2" })).message).toBe("2");
    const error = await rejection(pair.client.echo({ message: "3" }));

    expect(error.code).toBe(Code.ResourceExhausted);
    expect(error.rawMessage).toBe(
      `rate limit exceeded for calls through the router by ${pair.callerId()}`,
    );
    expect(pair.completed().map((e) => e.code)).toEqual(["ok", "ok"]);
  });
});
