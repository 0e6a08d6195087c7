// Acceptance of host replicas sharing state through Redis: cpg-host
// processes, a real redis-server, plugins as processes or SDK plugins here.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { createPlugin, type Plugin, provide, silentLogger } from "@cpg/plugin-sdk";
import {
  API_KEY_HEADER,
  adminV1,
  CapabilityBroker,
  HealthState,
  Logger,
  PluginLifecycle,
  ServiceRegistry,
  WatchServiceRequestSchema,
} from "@cpg/protocol";
import { skipRedisTests, startRedis, waitFor } from "@cpg/test-utils";
import { afterEach, describe, expect, it } from "vitest";
import { startNode, type TestProcess } from "../test-support/child-process.js";
import { logWithGrant } from "../test-support/log-with-grant.js";
import { sharedTestRedis } from "../test-support/shared-redis.js";
import { handshakeClient, handshakeRequest, runtimeHeaders } from "../test-support/test-host.js";

const cli = fileURLToPath(new URL("../../dist/cli/cpg-host.js", import.meta.url));
const pluginScript = fileURLToPath(new URL("./fixtures/replica-plugin.mjs", import.meta.url));
const ADMIN_KEY = "replica-test-operator-key-0123456789";
const LEASE_MS = 2_000;

const redis = sharedTestRedis();
const processes: TestProcess[] = [];
const plugins: Plugin[] = [];

afterEach(async () => {
  await Promise.all(plugins.splice(0).map((p) => p.close(100)));
  for (const p of processes.splice(0)) p.kill();
});

interface Replica {
  readonly url: string;
  readonly process: TestProcess;
}

/** Starts `count` cpg-host processes sharing a fresh key prefix of the test Redis (or of `store`). */
async function startReplicas(
  count: number,
  config: Record<string, unknown> = {},
  store: { url: string; maxStaleMs?: number } = { url: "" },
) {
  const dir = mkdtempSync(join(tmpdir(), "cpg-replicas-"));
  const file = join(dir, "host.json");
  writeFileSync(
    file,
    JSON.stringify({
      store: {
        url: store.url || redis.url,
        keyPrefix: redis.keyPrefix(),
        leaseTtlMs: LEASE_MS,
        ...(store.maxStaleMs ? { maxStaleMs: store.maxStaleMs } : {}),
      },
      rateLimits: false,
      ...config,
    }),
  );
  const replicas: Replica[] = [];
  for (let i = 0; i < count; i++) {
    const p = startNode(cli, ["--port", "0", "--config", file], { CPG_ADMIN_API_KEY: ADMIN_KEY });
    processes.push(p);
    const line = await p.waitForLine((l) => l.startsWith("listening on "), 15_000);
    replicas.push({ url: line.slice("listening on ".length), process: p });
  }
  return replicas;
}

const transportTo = (url: string): Transport =>
  createConnectTransport({ baseUrl: url, httpVersion: "1.1", useBinaryFormat: true });

function sdkPlugin(selfId: string, hostUrl: string | string[], onLog: () => void = () => {}) {
  const plugin = createPlugin({
    selfId,
    version: "1.0.0",
    hostUrl,
    services: [
      provide(Logger, {
        log: () => {
          onLog();
          return {};
        },
      }),
    ],
    healthReportIntervalMs: 300,
    logger: silentLogger,
  });
  plugins.push(plugin);
  return plugin;
}

/**
 * A Logger provider joined to `providerUrl` and listening, and a consumer
 * joined to `consumerUrl`; `calls()` counts the log calls the provider served.
 */
async function providerAndConsumer(providerUrl: string, consumerUrl: string) {
  let calls = 0;
  const provider = sdkPlugin("provider", providerUrl, () => calls++);
  await provider.listen();
  await provider.join();
  const consumer = sdkPlugin("consumer", consumerUrl);
  await consumer.join();
  return { provider, consumer, calls: () => calls };
}

/** Starts the provider fixture process; resolves with its first identity line. */
async function startProviderProcess(hostUrls: string[], selfId = "replica-plugin") {
  const p = startNode(pluginScript, [], {
    HOST_URL: hostUrls.join(","),
    CPG_TEST_HEARTBEAT_MS: "300",
    CPG_TEST_SELF_ID: selfId,
  });
  processes.push(p);
  const identity = JSON.parse(await p.waitForLine((l) => l.includes('"event":"identity"'), 15_000));
  return {
    process: p,
    runtimeId: identity.runtimeId as string,
    hostUrl: identity.hostUrl as string,
  };
}

describe.skipIf(skipRedisTests)("cpg-host replicas sharing Redis", () => {
  it("a plugin joins A; a client joins B, discovers, calls and watches it; unhealthy through A reaches B's watcher within 1 s", async () => {
    const [a, b] = await startReplicas(2);
    const { provider, consumer, calls } = await providerAndConsumer(a!.url, b!.url);
    const registry = createClient(ServiceRegistry, consumer.hostTransport);
    await waitFor(
      () =>
        registry.discoverService({ serviceType: "logger" }).then(
          (r) => r.singleProvider,
          () => false,
        ),
      { timeoutMs: 2_000 },
    );
    await consumer.client(Logger).log({ message: "through B" });
    expect(calls()).toBe(1);

    const watch = registry
      .watchService(create(WatchServiceRequestSchema, { serviceType: "logger" }))
      [Symbol.asyncIterator]();
    const first = await watch.next();
    const changed = watch.next();
    const started = performance.now();
    await provider.setHealth({ state: HealthState.UNHEALTHY, reason: "disk full" });
    const next = await changed;
    const elapsed = performance.now() - started;
    expect(next.value?.state).not.toBe(first.value?.state);
    expect(elapsed).toBeLessThan(1_000);
    await watch.return?.();
  });

  it("a token revoked through A is refused by B within 1 s; a grant issued by A works through B", async () => {
    const [a, b] = await startReplicas(2);
    const joined = await handshakeClient(transportTo(a!.url)).handshake(
      handshakeRequest({ selfId: "worker" }),
    );
    const headers = runtimeHeaders(joined.runtimeId, joined.runtimeToken);
    const viaA = createClient(CapabilityBroker, transportTo(a!.url));
    const granted = await viaA.requestCapability(
      { capabilityType: "logger", reason: "test" },
      { headers },
    );
    expect(await logWithGrant(b!.url, granted.grant!, "granted by A, used through B")).toBe(200);

    const lifecycleB = createClient(PluginLifecycle, transportTo(b!.url));
    await lifecycleB.reportHealth({ state: HealthState.HEALTHY }, { headers });
    const admin = createClient(adminV1.AdminService, transportTo(a!.url));
    const revoked = await admin.revokeRuntime(
      { runtimeId: joined.runtimeId },
      { headers: { [API_KEY_HEADER]: ADMIN_KEY } },
    );
    expect(revoked.revoked).toBe(true);
    const started = performance.now();
    const code = await waitFor(
      () =>
        lifecycleB.reportHealth({ state: HealthState.HEALTHY }, { headers }).then(
          () => undefined,
          (e: unknown) => ConnectError.from(e).code,
        ),
      { timeoutMs: 1_000, intervalMs: 20 },
    );
    expect(code).toBe(Code.Unauthenticated);
    expect(performance.now() - started).toBeLessThan(1_000);
  });

  it("replica A is killed with SIGKILL under steady load through B: no call fails, A's plugins fail over and stay registered", async () => {
    const [a, b] = await startReplicas(2);
    const provider = await startProviderProcess([a!.url, b!.url]);
    expect(provider.hostUrl).toBe(a!.url);
    const consumer = sdkPlugin("consumer", b!.url);
    await consumer.join();
    const registry = createClient(ServiceRegistry, consumer.hostTransport);
    await waitFor(() =>
      registry.discoverService({ serviceType: "logger" }).then(
        (r) => r.singleProvider,
        () => false,
      ),
    );

    const logger = consumer.client(Logger);
    const failures: string[] = [];
    let ok = 0;
    let stop = false;
    const worker = async () => {
      while (!stop) {
        await logger.log({ message: "steady" }).then(
          () => ok++,
          (e: unknown) => failures.push(String(e)),
        );
      }
    };
    // Discovery through B must keep finding the provider the whole time.
    const missing: number[] = [];
    const watchRegistration = (async () => {
      while (!stop) {
        const found = await registry.discoverService({ serviceType: "logger" }).then(
          (r) => r.singleProvider,
          () => false,
        );
        if (!found) missing.push(Date.now());
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })();
    const load = [worker(), worker(), worker(), worker()];
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    a!.process.kill();
    const failedOver = JSON.parse(
      await provider.process.waitForLine((l) => l.includes('"event":"host"'), 10_000),
    );
    expect(failedOver).toMatchObject({ runtimeId: provider.runtimeId, hostUrl: b!.url });
    // More than two leases after the kill: the failed-over plugin kept renewing.
    await new Promise((resolve) => setTimeout(resolve, 2 * LEASE_MS + 1_000));
    stop = true;
    await Promise.all([...load, watchRegistration]);
    expect(failures).toEqual([]);
    expect(missing).toEqual([]);
    expect(ok).toBeGreaterThan(100);
  });

  it("a plugin process killed with SIGKILL leaves discovery on every replica once its lease runs out, and watchers see it", async () => {
    const [a, b] = await startReplicas(2);
    const provider = await startProviderProcess([a!.url]);
    const lookups = [a!, b!].map((r) => {
      const client = createClient(ServiceRegistry, transportTo(r.url));
      return () =>
        client.discoverService({ serviceType: "logger" }, { headers: watcherHeaders }).then(
          (res) => res.singleProvider,
          (e: unknown) => (ConnectError.from(e).code === Code.NotFound ? false : undefined),
        );
    });
    const watcher = await handshakeClient(transportTo(b!.url)).handshake(
      handshakeRequest({ selfId: "watcher" }),
    );
    const watcherHeaders = runtimeHeaders(watcher.runtimeId, watcher.runtimeToken);
    for (const lookup of lookups) await waitFor(lookup);
    const watch = createClient(ServiceRegistry, transportTo(b!.url))
      .watchService(create(WatchServiceRequestSchema, { serviceType: "logger" }), {
        headers: watcherHeaders,
      })
      [Symbol.asyncIterator]();
    const first = await watch.next();
    expect(first.value?.state).toBe(1);
    // The watcher keeps its own lease alive; the provider goes silent.
    const lifecycle = createClient(PluginLifecycle, transportTo(b!.url));
    const keepAlive = setInterval(() => {
      void lifecycle
        .reportHealth({ state: HealthState.HEALTHY }, { headers: watcherHeaders })
        .catch(() => {});
    }, 300);
    try {
      const killedAt = performance.now();
      provider.process.kill();
      const gone = await watch.next();
      const seenAfter = performance.now() - killedAt;
      expect(gone.value?.state).not.toBe(1);
      // Documented bound: the lease plus one reaper period (at most 1 s) plus propagation.
      expect(seenAfter).toBeLessThan(LEASE_MS + 2_000);
      for (const lookup of lookups) {
        await waitFor(async () => (await lookup()) === false, { timeoutMs: 1_000 });
      }
    } finally {
      clearInterval(keepAlive);
      await watch.return?.();
    }
  });

  it("two replicas enforce one rate limit exactly", async () => {
    const [a, b] = await startReplicas(2, {
      rateLimits: { handshake: { rate: 100, burst: 100 }, api: { rate: 0.001, burst: 6 } },
    });
    const joined = await handshakeClient(transportTo(a!.url)).handshake(
      handshakeRequest({ selfId: "limited" }),
    );
    const headers = runtimeHeaders(joined.runtimeId, joined.runtimeToken);
    const clients = [a!, b!].map((r) => createClient(PluginLifecycle, transportTo(r.url)));
    const answers: string[] = [];
    for (let i = 0; i < 14; i++) {
      await clients[i % 2]!.reportHealth({ state: HealthState.HEALTHY }, { headers }).then(
        () => answers.push("ok"),
        (e: unknown) => answers.push(Code[ConnectError.from(e).code]),
      );
    }
    expect(answers.slice(0, 6)).toEqual(Array(6).fill("ok"));
    expect(answers.slice(6)).toEqual(Array(8).fill("ResourceExhausted"));
  });

  it("Redis goes away: changes are refused with unavailable, routed calls go on for maxStaleMs, then replicas turn not ready; all recover when it returns", async () => {
    const own = await startRedis({ persist: true });
    try {
      // Rate limits on: their buckets are in Redis too.
      const [a, b] = await startReplicas(
        2,
        { rateLimits: { api: { rate: 1_000, burst: 1_000 } } },
        { url: own.url, maxStaleMs: 2_000 },
      );
      const { consumer, calls } = await providerAndConsumer(a!.url, b!.url);
      const logger = consumer.client(Logger);
      await waitFor(() =>
        logger.log({ message: "before" }).then(
          () => true,
          () => false,
        ),
      );
      const ready = (url: string) => fetch(`${url}/readyz`).then((r) => r.status);

      await own.stop();
      const refused = await handshakeClient(transportTo(b!.url))
        .handshake(handshakeRequest({ selfId: "late" }))
        .catch((e: unknown) => ConnectError.from(e));
      expect((refused as ConnectError).code).toBe(Code.Unavailable);
      const admin = createClient(adminV1.AdminService, transportTo(b!.url));
      const listed = await admin.listPlugins({}, { headers: { [API_KEY_HEADER]: ADMIN_KEY } });
      expect(listed.plugins.map((p) => p.selfId)).not.toContain("late");
      // Routed calls and reads go on from what B knows (rate limits decided by B alone)...
      await logger.log({ message: "during the outage" });
      const found = await createClient(ServiceRegistry, consumer.hostTransport).discoverService({
        serviceType: "logger",
      });
      expect(found.singleProvider).toBe(true);
      // ...until maxStaleMs has passed.
      await waitFor(async () => (await ready(a!.url)) === 503 && (await ready(b!.url)) === 503, {
        timeoutMs: 6_000,
      });
      const stale = await logger
        .log({ message: "stale" })
        .catch((e: unknown) => ConnectError.from(e));
      expect((stale as ConnectError).code).toBe(Code.Unavailable);

      await own.restart();
      await waitFor(async () => (await ready(a!.url)) === 200 && (await ready(b!.url)) === 200, {
        timeoutMs: 10_000,
      });
      const before = calls();
      await logger.log({ message: "after" });
      expect(calls()).toBe(before + 1);
      const late = await handshakeClient(transportTo(b!.url)).handshake(
        handshakeRequest({ selfId: "late" }),
      );
      expect(late.runtimeId).toMatch(/^late-/);
    } finally {
      await own.stop();
    }
  });
});
