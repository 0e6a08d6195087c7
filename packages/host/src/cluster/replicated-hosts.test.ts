import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createPlugin, type Plugin, provide, silentLogger } from "@cpg/plugin-sdk";
import {
  CapabilityBroker,
  HealthState,
  Logger,
  PluginLifecycle,
  ServiceRegistry,
  WatchServiceRequestSchema,
} from "@cpg/protocol";
import { skipRedisTests, waitFor } from "@cpg/test-utils";
import { afterEach, describe, expect, it } from "vitest";
import type { Host } from "../host.js";
import type { HostOptions } from "../host-options.js";
import { logWithGrant } from "../test-support/log-with-grant.js";
import { sharedTestRedis } from "../test-support/shared-redis.js";
import {
  handshakeClient,
  handshakeRequest,
  joinInMemory,
  testHost,
} from "../test-support/test-host.js";

const redis = sharedTestRedis();
const hosts: Host[] = [];
const plugins: Plugin[] = [];

afterEach(async () => {
  await Promise.all(plugins.splice(0).map((p) => p.close(100)));
  await Promise.all(hosts.splice(0).map((h) => h.close()));
});

/** Replicas sharing one key prefix of the test Redis. */
async function replicas(count: number, options: HostOptions = {}): Promise<Host[]> {
  const keyPrefix = redis.keyPrefix();
  const out: Host[] = [];
  for (let i = 0; i < count; i++) {
    const host = testHost({
      store: { url: redis.url, keyPrefix, leaseTtlMs: 1_500, maxStaleMs: 2_000 },
      ...options,
    });
    hosts.push(host);
    await host.listen();
    out.push(host);
  }
  return out;
}

function loggerPlugin(selfId: string, onLog: (message: string) => void = () => {}) {
  const plugin = createPlugin({
    selfId,
    version: "1.0.0",
    services: [
      provide(Logger, {
        log(req) {
          onLog(req.message);
          return {};
        },
      }),
    ],
    requires: [],
    logger: silentLogger,
  });
  plugins.push(plugin);
  return plugin;
}

describe.skipIf(skipRedisTests)("host replicas sharing state through Redis", () => {
  it("a plugin that joined A is discovered, called and watched through B", async () => {
    const [a, b] = await replicas(2);
    const logged: string[] = [];
    const provider = loggerPlugin("provider", (m) => logged.push(m));
    await provider.listen();
    const providerCreds = await provider.join(a!.url);
    await waitFor(() => b!.registry.providers("logger").length === 1);

    const consumer = createPlugin({ selfId: "consumer", version: "1.0.0", logger: silentLogger });
    plugins.push(consumer);
    await consumer.join(b!.url);
    await consumer.client(Logger, {}).log({
      message: "through B",
    });
    expect(logged).toEqual(["through B"]);

    // Watch on B; the provider turns unhealthy through A.
    const watch = createClient(ServiceRegistry, consumer.hostTransport).watchService(
      create(WatchServiceRequestSchema, { serviceType: "logger" }),
    );
    const iterator = watch[Symbol.asyncIterator]();
    const first = await iterator.next();
    expect(first.value?.state).toBe(1);
    const started = Date.now();
    await provider.setHealth({ state: HealthState.UNHEALTHY, reason: "disk full" });
    expect(a!.health.get(providerCreds.runtimeId)?.state).toBe(HealthState.UNHEALTHY);
    const next = await iterator.next();
    expect(next.value?.state).not.toBe(first.value?.state);
    expect(Date.now() - started).toBeLessThan(1_000);
    await iterator.return?.();
  });

  it("a token revoked through A is refused by B; a grant issued by A works through B", async () => {
    const [a, b] = await replicas(2);
    const runtime = await joinInMemory(a!, "worker");
    await waitFor(() => b!.identities.get(runtime.runtimeId) !== undefined);
    const viaB = createClient(PluginLifecycle, b!.createInMemoryTransport());
    await viaB.reportHealth({ state: HealthState.HEALTHY }, { headers: runtime.headers });

    const grant = await createClient(CapabilityBroker, runtime.transport).requestCapability({
      capabilityType: "logger",
      reason: "test",
    });
    await waitFor(() => b!.grants.get(grant.grant!.grantId) !== undefined);
    expect(await logWithGrant(b!.url!, grant.grant!, "granted by A")).toBe(200);

    expect(a!.identities.revoke(runtime.runtimeId)).toBe(true);
    await waitFor(() => b!.identities.get(runtime.runtimeId) === undefined, { timeoutMs: 1_000 });
    const refused = await viaB
      .reportHealth({ state: HealthState.HEALTHY }, { headers: runtime.headers })
      .catch((e: unknown) => ConnectError.from(e));
    expect(refused).toBeInstanceOf(ConnectError);
    expect((refused as ConnectError).code).toBe(Code.Unauthenticated);
  });

  it("a plugin that stops reporting leaves discovery on every replica once its lease runs out", async () => {
    const [a, b] = await replicas(2);
    const runtime = await joinInMemory(a!, "silent");
    await createClient(ServiceRegistry, runtime.transport).registerService({
      serviceType: "silent",
      version: "1.0.0",
      endpointPath: "/silent.v1.Service/",
      metadata: { base_url: "http://127.0.0.1:9" },
    });
    await waitFor(() => b!.registry.providers("silent").length === 1);
    const gone = new Promise<number>((resolve) => {
      const off = b!.events.subscribe((e) => {
        if (e.type === "service.unregistered" && e.registration.runtimeId === runtime.runtimeId) {
          off();
          resolve(Date.now());
        }
      });
    });
    const lastReport = Date.now();
    // No health reports from now on: the lease (1.5 s here) runs out.
    const ended = await gone;
    expect(ended - lastReport).toBeGreaterThanOrEqual(1_400);
    await waitFor(() => a!.registry.providers("silent").length === 0, { timeoutMs: 1_000 });
    await waitFor(() => a!.identities.get(runtime.runtimeId) === undefined);
    expect(b!.identities.get(runtime.runtimeId)).toBeUndefined();
  });

  it("health reports renew the lease through any replica", async () => {
    const [a, b] = await replicas(2);
    const runtime = await joinInMemory(a!, "steady");
    await createClient(ServiceRegistry, runtime.transport).registerService({
      serviceType: "steady",
      version: "1.0.0",
      endpointPath: "/steady.v1.Service/",
      metadata: { base_url: "http://127.0.0.1:9" },
    });
    const viaB = createClient(PluginLifecycle, b!.createInMemoryTransport());
    // 3.5 s of reports every 300 ms through B: more than twice the lease.
    for (let i = 0; i < 12; i++) {
      await viaB.reportHealth({ state: HealthState.HEALTHY }, { headers: runtime.headers });
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
    expect(a!.registry.providers("steady")).toHaveLength(1);
    expect(b!.registry.providers("steady")).toHaveLength(1);
  });

  it("a handshake nonce used on A is refused on B", async () => {
    const [a, b] = await replicas(2);
    const request = handshakeRequest({ selfId: "replayer" });
    await handshakeClient(a!.createInMemoryTransport()).handshake(request);
    const replayed = await handshakeClient(b!.createInMemoryTransport())
      .handshake(request)
      .catch((e: unknown) => ConnectError.from(e));
    expect(replayed).toBeInstanceOf(ConnectError);
    expect((replayed as ConnectError).code).toBe(Code.InvalidArgument);
    expect((replayed as ConnectError).rawMessage).toMatch(/already used/);
  });

  it("two replicas enforce one rate limit exactly", async () => {
    const [a, b] = await replicas(2, {
      rateLimits: { api: { rate: 0.001, burst: 6 }, handshake: { rate: 100, burst: 100 } },
    });
    const runtime = await joinInMemory(a!, "limited");
    const clients = [a!, b!].map((h) => createClient(PluginLifecycle, h.createInMemoryTransport()));
    const codes: string[] = [];
    for (let i = 0; i < 14; i++) {
      const client = clients[i % 2]!;
      await client.reportHealth({ state: HealthState.HEALTHY }, { headers: runtime.headers }).then(
        () => codes.push("ok"),
        (e: unknown) => codes.push(Code[ConnectError.from(e).code]),
      );
    }
    expect(codes.filter((c) => c === "ok")).toHaveLength(6);
    expect(codes.filter((c) => c !== "ok")).toEqual(Array(8).fill("ResourceExhausted"));
  });

  it("in-process plugins stay local to their replica", async () => {
    const [a, b] = await replicas(2);
    const plugin = loggerPlugin("inproc");
    await plugin.joinWith("memory://a", (interceptors) =>
      a!.createInMemoryTransport({ interceptors, plugin }),
    );
    await waitFor(() => a!.registry.providers("logger").length === 1);
    await waitFor(() => b!.identities.get(plugin.credentials!.runtimeId) !== undefined);
    expect(b!.registry.providers("logger")).toEqual([]);
  });
});
