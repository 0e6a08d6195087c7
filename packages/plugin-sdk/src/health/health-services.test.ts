import { Code, ConnectError, createClient, createRouterTransport } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { grpcHealthV1, HealthState, pluginHealthV1 } from "@cpg/protocol";
import { processWarnings } from "@cpg/test-utils";
import { afterEach, describe, expect, it } from "vitest";
import { silentLogger } from "../logging/logger.js";
import { createPlugin, type Plugin } from "../plugin.js";
import { provide } from "../provided-service.js";
import { KVService } from "../test-support/kv-service.js";
import { registerHealthServices } from "./health-services.js";
import { createServingStatusRegistry } from "./serving-status.js";

const GrpcStatus = grpcHealthV1.HealthCheckResponse_ServingStatus;
const PluginStatus = pluginHealthV1.ServingStatus;

const plugins: Plugin[] = [];
afterEach(async () => {
  await Promise.all(plugins.splice(0).map((p) => p.close(100)));
});

function kvPlugin(): Plugin {
  const plugin = createPlugin({
    selfId: "kv-store",
    version: "1.0.0",
    services: [provide(KVService, { get: () => ({ value: "v", found: true }) })],
    logger: silentLogger,
  });
  plugins.push(plugin);
  return plugin;
}

describe("health services of a plugin", () => {
  it("grpc.health.v1.Health Check answers for the server and each provided service", async () => {
    const plugin = kvPlugin();
    const health = createClient(grpcHealthV1.Health, createRouterTransport(plugin.routes));
    expect((await health.check({ service: "" })).status).toBe(GrpcStatus.SERVING);
    expect((await health.check({ service: "kv.v1.KVService" })).status).toBe(GrpcStatus.SERVING);
    const error = await health.check({ service: "nope" }).then(
      () => undefined,
      (e: unknown) => ConnectError.from(e),
    );
    expect([error?.code, error?.rawMessage]).toEqual([Code.NotFound, 'unknown service "nope"']);
  });

  it("serves many Watch streams at once without Node warning of a listener leak", async () => {
    const plugin = kvPlugin();
    const health = createClient(grpcHealthV1.Health, createRouterTransport(plugin.routes));
    const warnings = await processWarnings(async () => {
      const aborts = Array.from({ length: 25 }, () => new AbortController());
      // 25 streams open at once, each waiting for its next status.
      const firsts = aborts.map(async (abort) => {
        const it = health.watch({ service: "" }, { signal: abort.signal })[Symbol.asyncIterator]();
        return (await it.next()).value?.status;
      });
      expect(await Promise.all(firsts)).toEqual(aborts.map(() => GrpcStatus.SERVING));
      for (const abort of aborts) abort.abort();
    });
    expect(warnings).toEqual([]);
  });

  it("grpc.health.v1.Health List returns every known service", async () => {
    const plugin = kvPlugin();
    const health = createClient(grpcHealthV1.Health, createRouterTransport(plugin.routes));
    const list = await health.list({});
    expect(
      Object.fromEntries(Object.entries(list.statuses).map(([k, v]) => [k, v.status])),
    ).toEqual({ "": GrpcStatus.SERVING, "kv.v1.KVService": GrpcStatus.SERVING });
  });

  it("connectplugin.health.v1.HealthService Check uses its own status enum", async () => {
    const plugin = kvPlugin();
    const health = createClient(pluginHealthV1.HealthService, createRouterTransport(plugin.routes));
    expect((await health.check({ service: "" })).status).toBe(PluginStatus.SERVING);
    expect((await health.check({ service: "kv.v1.KVService" })).status).toBe(PluginStatus.SERVING);
    await expect(health.check({ service: "nope" })).rejects.toMatchObject({
      code: Code.NotFound,
      rawMessage: 'unknown service "nope"',
    });
  });

  it("the server turns NOT_SERVING while the plugin is UNHEALTHY, and back", async () => {
    const plugin = kvPlugin();
    const transport = createRouterTransport(plugin.routes);
    const grpc = createClient(grpcHealthV1.Health, transport);
    const own = createClient(pluginHealthV1.HealthService, transport);
    await plugin.setHealth({ state: HealthState.UNHEALTHY, reason: "disk full" });
    expect((await grpc.check({ service: "" })).status).toBe(GrpcStatus.NOT_SERVING);
    expect((await own.check({ service: "" })).status).toBe(PluginStatus.NOT_SERVING);
    // DEGRADED still serves.
    await plugin.setHealth({ state: HealthState.DEGRADED, reason: "slow disk" });
    expect((await grpc.check({ service: "" })).status).toBe(GrpcStatus.SERVING);
  });

  it.each([
    ["grpc.health.v1.Health", "grpc"],
    ["connectplugin.health.v1.HealthService", "plugin"],
  ])(
    "%s Watch streams changes and ends after NOT_SERVING when the plugin closes",
    async (_, kind) => {
      const plugin = kvPlugin();
      const { url } = await plugin.listen();
      const transport = createGrpcTransport({ baseUrl: url });
      const stream =
        kind === "grpc"
          ? createClient(grpcHealthV1.Health, transport).watch({ service: "" })
          : createClient(pluginHealthV1.HealthService, transport).watch({ service: "" });
      const seen: number[] = [];
      for await (const res of stream) {
        seen.push(res.status);
        if (seen.length === 1) await plugin.setHealth({ state: HealthState.UNHEALTHY });
        if (seen.length === 2) await plugin.setHealth({ state: HealthState.HEALTHY });
        if (seen.length === 3) void plugin.close(1000);
      }
      // SERVING, NOT_SERVING, SERVING and NOT_SERVING have the same numbers in both enums.
      expect(seen).toEqual([
        GrpcStatus.SERVING,
        GrpcStatus.NOT_SERVING,
        GrpcStatus.SERVING,
        GrpcStatus.NOT_SERVING,
      ]);
    },
  );
});

describe("registerHealthServices", () => {
  it("Watch of an unknown service yields SERVICE_UNKNOWN, then only the latest of its changes", async () => {
    const registry = createServingStatusRegistry();
    const stop = new AbortController();
    const transport = createRouterTransport((router) =>
      registerHealthServices(router, registry, stop.signal),
    );
    const seen: number[] = [];
    for await (const res of createClient(grpcHealthV1.Health, transport).watch({
      service: "kv",
    })) {
      seen.push(res.status);
      if (seen.length === 1) {
        // Changes made before the watcher reads coalesce into the latest one.
        registry.set("kv", "serving");
        registry.set("kv", "not_serving");
      }
      if (seen.length === 2) {
        // Other services and unchanged statuses wake nobody.
        registry.set("other", "serving");
        registry.set("kv", "not_serving");
        registry.set("kv", "serving");
      }
      if (seen.length === 3) stop.abort();
    }
    expect(seen).toEqual([GrpcStatus.SERVICE_UNKNOWN, GrpcStatus.NOT_SERVING, GrpcStatus.SERVING]);
  });

  it("Watch ends when the caller goes away", async () => {
    const registry = createServingStatusRegistry();
    const transport = createRouterTransport((router) => registerHealthServices(router, registry));
    const caller = new AbortController();
    const seen: number[] = [];
    const error = await (async () => {
      for await (const res of createClient(grpcHealthV1.Health, transport).watch(
        { service: "" },
        { signal: caller.signal },
      )) {
        seen.push(res.status);
        caller.abort();
      }
    })().then(
      () => undefined,
      (e: unknown) => ConnectError.from(e),
    );
    expect(seen).toEqual([GrpcStatus.NOT_SERVING]);
    expect(error?.code).toBe(Code.Canceled);
    await expect.poll(() => registry.changes.listenerCount).toBe(0);
  });
});
