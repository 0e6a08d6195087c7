import { Code, createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { EchoService } from "@cpg/examples-proto";
import { createPlugin, type Plugin, provide, silentLogger } from "@cpg/plugin-sdk";
import { bearer, RUNTIME_ID_HEADER, ServiceRegistry } from "@cpg/protocol";
import { waitFor } from "@cpg/test-utils";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Host } from "../host.js";
import { handshakeClient, handshakeRequest, testHost } from "../test-support/test-host.js";
import { createHostMetrics } from "./host-metrics.js";

const echo = provide(EchoService, {
  async echo(req) {
    return { message: req.message };
  },
});

const VIEWER_KEY = "viewer-key-0123456789";

let host: Host;
let hostUrl: string;
let provider: Plugin;
const callers: Plugin[] = [];

const credentials =
  (p: Plugin): Interceptor =>
  (next) =>
  (req) => {
    req.header.set(RUNTIME_ID_HEADER, p.credentials!.runtimeId);
    req.header.set("authorization", bearer(p.credentials!.token));
    return next(req);
  };

const scrape = async (headers: Record<string, string> = { "x-api-key": VIEWER_KEY }) => {
  const res = await fetch(`${hostUrl}/metrics`, { headers });
  return { status: res.status, type: res.headers.get("content-type"), text: await res.text() };
};

const series = (text: string, name: string) =>
  text.split("\n").filter((line) => line.startsWith(name) && !line.startsWith("#"));

beforeAll(async () => {
  host = testHost({
    admin: { apiKeys: { [VIEWER_KEY]: { identity: "grafana", role: "viewer" } } },
  });
  ({ url: hostUrl } = await host.listen());
  provider = createPlugin({
    selfId: "echo-provider",
    version: "1.0.0",
    services: [echo],
    logger: silentLogger,
  });
  await provider.listen();
  await provider.join(hostUrl);
  // Two runtimes of the same plugin: one label set in the router's series.
  for (let i = 0; i < 2; i++) {
    const c = createPlugin({
      selfId: "echo-caller",
      version: "1.0.0",
      requires: [{ type: "echo" }],
      logger: silentLogger,
    });
    await c.join(hostUrl);
    callers.push(c);
  }
  await waitFor(() => host.registry.providers("echo").length === 1, {
    description: "echo registered",
  });
});

afterAll(async () => {
  for (const c of callers) await c.close(100);
  await provider?.close(100);
  await host?.close();
});

describe("host metrics", () => {
  it("refuses /metrics without an admin API key, and with an unknown one", async () => {
    expect((await scrape({})).status).toBe(401);
    expect((await scrape({ "x-api-key": "not-a-key" })).status).toBe(401);
  });

  it("counts handshakes, routed calls and refused calls, with bounded labels", async () => {
    for (const c of callers) {
      expect((await c.client(EchoService).echo({ message: "hi" })).message).toBe("hi");
    }
    // A routed call with a wrong token, and a host call without credentials.
    const providerId = provider.credentials!.runtimeId;
    const forged = createClient(
      EchoService,
      createConnectTransport({
        baseUrl: `${hostUrl}/services/echo/${providerId}`,
        httpVersion: "1.1",
        interceptors: [
          (next) => (req) => {
            req.header.set(RUNTIME_ID_HEADER, callers[0]!.credentials!.runtimeId);
            req.header.set("authorization", bearer("wrong"));
            return next(req);
          },
        ],
      }),
    );
    await expect(forged.echo({ message: "x" })).rejects.toMatchObject({
      code: Code.Unauthenticated,
    });
    const anonymous = createClient(
      ServiceRegistry,
      createConnectTransport({ baseUrl: hostUrl, httpVersion: "1.1" }),
    );
    await expect(anonymous.discoverService({ serviceType: "echo" })).rejects.toMatchObject({
      code: Code.Unauthenticated,
    });

    const { status, type, text } = await scrape();
    expect(status).toBe(200);
    expect(type).toContain("text/plain");
    expect(series(text, "cpg_host_calls_total")).toContain(
      'cpg_host_calls_total{procedure="/connectplugin.v1.HandshakeService/Handshake",code="ok"} 3',
    );
    expect(series(text, "cpg_host_calls_total")).toContain(
      'cpg_host_calls_total{procedure="/connectplugin.v1.ServiceRegistry/DiscoverService",code="unauthenticated"} 1',
    );
    expect(series(text, "cpg_auth_failures_total")).toEqual([
      'cpg_auth_failures_total{where="router",code="unauthenticated"} 1',
      'cpg_auth_failures_total{where="host",code="unauthenticated"} 1',
    ]);
    expect(series(text, "cpg_active_plugins")).toEqual(["cpg_active_plugins 3"]);
    // Both callers' runtimes end up in one label set, named by self_id.
    const routed = series(text, "cpg_router_call_duration_seconds_count");
    expect(routed).toEqual([
      'cpg_router_call_duration_seconds_count{caller_self_id="echo-caller",provider_self_id="echo-provider",service_type="echo",code="ok"} 2',
    ]);
    for (const c of [...callers, provider]) expect(text).not.toContain(c.credentials!.runtimeId);
  });

  it("tracks open streams of the host API from start to end", async () => {
    const procedure = "/connectplugin.v1.ServiceRegistry/WatchService";
    const value = async (name: string) => {
      const line = series((await scrape()).text, `${name}{procedure="${procedure}"}`)[0];
      return Number(line?.split(" ")[1] ?? 0);
    };
    // The callers watch "echo" themselves (they require it).
    const openBefore = await value("cpg_host_open_streams");
    const startedBefore = await value("cpg_host_streams_started_total");
    const abort = new AbortController();
    const stream = createClient(
      ServiceRegistry,
      createConnectTransport({
        baseUrl: hostUrl,
        httpVersion: "2",
        interceptors: [credentials(callers[0]!)],
      }),
    ).watchService({ serviceType: "echo" }, { signal: abort.signal });
    const iterator = stream[Symbol.asyncIterator]();
    await iterator.next();
    expect(await value("cpg_host_open_streams")).toBe(openBefore + 1);
    expect(await value("cpg_host_streams_started_total")).toBe(startedBefore + 1);
    abort.abort();
    await iterator.next().catch(() => undefined);
    await expect.poll(() => value("cpg_host_open_streams"), { timeout: 5000 }).toBe(openBefore);
    expect(series((await scrape()).text, "cpg_host_calls_total")).toContain(
      `cpg_host_calls_total{procedure="${procedure}",code="canceled"} 1`,
    );
  });
});

describe("metrics settings", () => {
  it("serves /metrics without a key when public, and counts rate-limit rejections", async () => {
    const registry = new Registry();
    const open = testHost({
      metrics: { public: true, registry },
      rateLimits: { handshake: { rate: 0.001, burst: 1 } },
    });
    try {
      const { url } = await open.listen();
      const client = handshakeClient(createConnectTransport({ baseUrl: url, httpVersion: "1.1" }));
      await client.handshake(handshakeRequest());
      await expect(client.handshake(handshakeRequest())).rejects.toMatchObject({
        code: Code.ResourceExhausted,
      });
      const res = await fetch(`${url}/metrics`);
      expect(res.status).toBe(200);
      const text = await res.text();
      expect(series(text, "cpg_rate_limited_total")).toEqual([
        'cpg_rate_limited_total{where="host"} 1',
      ]);
      expect(await registry.metrics()).toContain("cpg_rate_limited_total");
    } finally {
      await open.close();
    }
  });

  it("serves no /metrics when disabled", async () => {
    const off = testHost({ metrics: { enabled: false } });
    try {
      const { url } = await off.listen();
      expect((await fetch(`${url}/metrics`)).status).toBe(404);
    } finally {
      await off.close();
    }
  });

  it("refuses a registry that already holds the metrics, saying what to change", () => {
    const registry = new Registry();
    createHostMetrics({ registry });
    expect(() => createHostMetrics({ registry })).toThrow(
      /already holds cpg metrics with prefix "cpg_": give each host its own registry or prefix/,
    );
    expect(() => createHostMetrics({ registry, prefix: "edge_" })).not.toThrow();
    expect(() => createHostMetrics({ prefix: "bad-prefix" })).toThrow(/not a valid Prometheus/);
  });
});
