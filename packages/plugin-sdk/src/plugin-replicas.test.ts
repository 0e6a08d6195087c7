// A plugin and the replicas of a replicated host: joining the first replica
// that answers, failing over from one to the next with the same identity,
// and telling a replica that is down from a provider that answers
// `unavailable` through a live replica's router.
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { HealthState, Logger, PluginLifecycle } from "@cpg/protocol";
import { afterEach, describe, expect, it, vi } from "vitest";
import { isPluginError, type PluginError } from "./plugin-error.js";
import { provide } from "./provided-service.js";
import { type FakeHost, startFakeReplicas } from "./test-support/fake-host.js";
import { KVService } from "./test-support/kv-service.js";
import {
  closedServerUrl,
  errorOf,
  recordingLogger,
  usePlugins,
} from "./test-support/test-plugins.js";

const plugin = usePlugins();
const hosts: FakeHost[] = [];
afterEach(async () => {
  vi.unstubAllEnvs();
  await Promise.all(hosts.splice(0).map((h) => h.close()));
});

async function replicas(
  count: number,
  options: Parameters<typeof startFakeReplicas>[1] = {},
): Promise<FakeHost[]> {
  const started = await startFakeReplicas(count, options);
  hosts.push(...started);
  return started;
}

async function joinError(promise: Promise<unknown>): Promise<PluginError> {
  try {
    await promise;
  } catch (error) {
    if (isPluginError(error)) return error;
    throw error;
  }
  throw new Error("joined");
}

const failovers = (lines: ReturnType<typeof recordingLogger>["lines"]) =>
  lines
    .filter((l) => l.message === "host replica unreachable; failing over")
    .map((l) => [l.level, l.fields]);

// A kv provider joined to the replicas; `get` fails with `unavailable` for
// the key "cold", as a provider that is not ready would.
async function kvProvider(urls: string[], options: { baseUrl?: string } = {}) {
  const store = new Map<string, string>();
  const provider = plugin({
    healthReportIntervalMs: 0,
    services: [
      provide(KVService, {
        get(req) {
          if (req.key === "cold") throw new ConnectError("cache is cold", Code.Unavailable);
          return { value: store.get(req.key) ?? "", found: store.has(req.key) };
        },
        put(req) {
          store.set(req.key, req.value);
          return {};
        },
      }),
    ],
    ...options,
  });
  await provider.listen();
  await provider.join(urls);
  return provider;
}

/**
 * Two replicas, a KV provider registered through the first and a caller
 * joined to both (so to the first) that logs into `lines`.
 */
async function callerOfRegisteredKv() {
  const [a, b] = await replicas(2);
  await kvProvider([a!.url, b!.url]);
  await expect.poll(() => a!.registrations.length).toBe(1);
  const { logger, lines } = recordingLogger();
  const caller = plugin({ selfId: "kv-app", services: [], logger, healthReportIntervalMs: 0 });
  await caller.join([a!.url, b!.url]);
  return { a: a!, b: b!, caller, lines };
}

describe("joining a replicated host", () => {
  it("joins the first replica that completes the handshake, skipping one that refuses connections", async () => {
    const [a] = await replicas(1);
    const dead = await closedServerUrl();
    const { logger, lines } = recordingLogger();
    const p = plugin({ logger });
    const credentials = await p.join([dead, `${a!.url}/`]);
    expect(credentials).toEqual({
      runtimeId: "kv-store-1",
      token: "token-1",
      expiresAt: 0,
      hostUrl: a!.url,
    });
    expect(p.hostUrls).toEqual([dead, a!.url]);
    expect(p.credentials?.hostUrl).toBe(a!.url);
    expect(a!.handshakes).toHaveLength(1);
    expect(lines.find((l) => l.message === "could not join host replica")).toMatchObject({
      level: "warn",
      fields: { host_url: dead },
    });
    // Then it reports its health to the replica it joined.
    expect((await a!.nextReport(0)).runtimeId).toBe("kv-store-1");
  });

  it("joins the replicas listed in HOST_URL, comma-separated", async () => {
    const [a, b] = await replicas(2);
    const dead = await closedServerUrl();
    vi.stubEnv("HOST_URL", ` ${dead}, ${b!.url}/ ,${a!.url}`);
    const p = plugin();
    expect(p.hostUrls).toEqual([dead, b!.url, a!.url]);
    const credentials = await p.join();
    expect(credentials.hostUrl).toBe(b!.url);
    expect([a!.handshakes.length, b!.handshakes.length]).toEqual([0, 1]);
  });

  it("skips a replica that answers unavailable (it lost its shared state)", async () => {
    const [a, b] = await replicas(2);
    a!.unavailable = "state store unreachable";
    const credentials = await plugin().join([a!.url, b!.url]);
    expect(credentials.hostUrl).toBe(b!.url);
    expect(a!.calls).toEqual(["Handshake"]);
  });

  it("names every replica it tried and the last error when none completes the handshake", async () => {
    const first = await closedServerUrl();
    const second = await closedServerUrl();
    const error = await joinError(plugin().join(`${first},${second}`));
    expect(error.code).toBe("join_failed");
    expect(error.message).toBe(
      `could not join any host replica (tried ${first}, ${second}); last error: handshake with ${second} failed: [unavailable] connect ECONNREFUSED ${second.slice("http://".length)}`,
    );
    expect(ConnectError.from(error.cause).code).toBe(Code.Unavailable);
  });

  it("refuses a bad entry in join()'s list with invalid_config", async () => {
    const error = await joinError(plugin().join(["http://127.0.0.1:1", "127.0.0.1:2"]));
    expect([error.code, error.message]).toEqual([
      "invalid_config",
      'join(): "127.0.0.1:2" is not an absolute http:// or https:// URL',
    ]);
  });
});

describe("failing over between replicas", () => {
  it("reports health to the next replica when the current one goes away, with the same identity", async () => {
    const [a, b] = await replicas(2);
    const { logger, lines } = recordingLogger();
    const p = plugin({ logger, healthReportIntervalMs: 0, services: [provide(KVService, {})] });
    await p.listen();
    await p.join([a!.url, b!.url]);
    await a!.nextReport(0);
    expect(p.registrations.size).toBe(1);
    await a!.closeWhenIdle();

    const report = b!.nextReport(0);
    await p.setHealth({ state: HealthState.DEGRADED, reason: "cache is cold" });
    expect(await report).toMatchObject({
      runtimeId: "kv-store-1",
      token: "token-1",
      message: { state: HealthState.DEGRADED, reason: "cache is cold" },
    });
    expect(p.credentials).toEqual({
      runtimeId: "kv-store-1",
      token: "token-1",
      expiresAt: 0,
      hostUrl: b!.url,
    });
    expect(p.hostUrls).toEqual([a!.url, b!.url]);
    // Neither a new handshake nor a new registration: replicas share both.
    expect(b!.handshakes).toEqual([]);
    expect(b!.registerCalls).toHaveLength(1);
    expect(failovers(lines)).toEqual([["warn", { from: a!.url, to: b!.url }]]);
  });

  it("fails over when the current replica answers unavailable, and on round-robin after that", async () => {
    const [a, b, c] = await replicas(3);
    const { logger, lines } = recordingLogger();
    const p = plugin({ logger, healthReportIntervalMs: 0 });
    await p.join([a!.url, b!.url, c!.url]);
    await a!.nextReport(0);

    a!.unavailable = "state store unreachable";
    await p.setHealth({ state: HealthState.DEGRADED, reason: "one" });
    expect(b!.reports.map((r) => r.message.reason)).toEqual(["one"]);

    await b!.close();
    await p.setHealth({ state: HealthState.DEGRADED, reason: "two" });
    expect(c!.reports.map((r) => r.message.reason)).toEqual(["two"]);
    expect(p.credentials?.hostUrl).toBe(c!.url);
    expect(failovers(lines)).toEqual([
      ["warn", { from: a!.url, to: b!.url }],
      ["warn", { from: b!.url, to: c!.url }],
    ]);
  });

  it("sends discovery, host API calls and unregistration to the next replica", async () => {
    const [a, b] = await replicas(2);
    const provider = await kvProvider([a!.url, b!.url]);
    const caller = plugin({ selfId: "kv-app", services: [], healthReportIntervalMs: 0 });
    await caller.join([a!.url, b!.url]);
    // Both joined and reported (after registering) to a.
    await a!.nextReport(1);
    await a!.closeWhenIdle();

    const found = await caller.discover("kv");
    expect(found.endpoint?.providerId).toBe(provider.credentials?.runtimeId);
    await createClient(PluginLifecycle, caller.hostTransport).reportHealth({
      state: HealthState.HEALTHY,
      reason: "by hand",
    });
    expect(b!.calls).toEqual(["DiscoverService", "ReportHealth"]);

    await provider.close();
    expect(b!.calls).toContain("UnregisterService");
    expect(b!.registrations).toEqual([]);
  });

  it("sends a routed call again through the next replica's router when the current one goes away", async () => {
    const { a, b, caller, lines } = await callerOfRegisteredKv();
    const kv = caller.client(KVService);
    await kv.put({ key: "greeting", value: "hello" });
    expect(a.calls.filter((c) => c.startsWith("/services/"))).toHaveLength(1);
    // Both plugins reported to a: the routed call is the first to find it gone.
    await a.nextReport(1);
    await a.closeWhenIdle();
    expect(await kv.get({ key: "greeting" })).toMatchObject({ value: "hello", found: true });
    const routed = b.calls.filter((c) => c.startsWith("/services/"));
    expect(routed).toEqual([`/services/kv/kv-store-1/Get`]);
    // The provider was not discovered again: the same endpoint, through another replica.
    expect(b.calls).toEqual(routed);
    expect(caller.credentials?.hostUrl).toBe(b.url);
    expect(failovers(lines)).toEqual([["warn", { from: a.url, to: b.url }]]);
  });

  it("does not fail over when a provider answers unavailable through a live replica's router", async () => {
    const { a, b, caller, lines } = await callerOfRegisteredKv();

    const error = await errorOf(caller.client(KVService).get({ key: "cold" }));
    expect([error?.code, error?.rawMessage]).toEqual([Code.Unavailable, "cache is cold"]);
    expect(caller.credentials?.hostUrl).toBe(a.url);
    expect(b.calls).toEqual([]);
    expect(failovers(lines)).toEqual([]);
  });

  it("does not fail over when the router cannot reach the provider (the replica answers 502)", async () => {
    const [a, b] = await replicas(2);
    // The provider advertises an address where nothing listens.
    await kvProvider([a!.url, b!.url], { baseUrl: await closedServerUrl() });
    await expect.poll(() => a!.registrations.length).toBe(1);
    const caller = plugin({ selfId: "kv-app", services: [], healthReportIntervalMs: 0 });
    await caller.join([a!.url, b!.url]);

    const error = await errorOf(caller.client(KVService).get({ key: "k" }));
    expect(error?.code).toBe(Code.Unavailable);
    expect(caller.credentials?.hostUrl).toBe(a!.url);
    expect(b!.calls).toEqual([]);
  });

  it("reopens its dependency watches on the next replica", async () => {
    const [a, b] = await replicas(2);
    const provider = await kvProvider([a!.url, b!.url]);
    const caller = plugin({
      selfId: "kv-app",
      services: [],
      requires: [{ type: "kv" }],
      healthReportIntervalMs: 0,
    });
    await caller.join([a!.url, b!.url]);
    await expect.poll(() => caller.health.state).toBe(HealthState.HEALTHY);
    expect(b!.calls).toEqual([]);

    await a!.close();
    // The watch must now run on b to see the provider go away.
    await provider.close();
    await expect.poll(() => caller.health.state).toBe(HealthState.DEGRADED);
    expect(b!.calls).toContain("WatchService");
    await expect
      .poll(() => b!.reports.map((r) => [r.runtimeId, r.message.state]))
      .toContainEqual([caller.credentials?.runtimeId, HealthState.DEGRADED]);
  });

  it("fails a call with the last error when no replica can be reached, and starts over on the next call", async () => {
    const [a, b] = await replicas(2);
    const p = plugin({ healthReportIntervalMs: 0 });
    await p.join([a!.url, b!.url]);
    await a!.close();
    await b!.close();
    const error = await errorOf(p.discover("kv"));
    expect(error?.code).toBe(Code.Unavailable);
    expect(error?.message).toContain(b!.url.slice("http://".length));
    // Round-robin: after b failed, a is the current replica again.
    expect(p.credentials?.hostUrl).toBe(a!.url);
  });

  it.each([
    ["on a replica's URL, as cpg hosts give them", false],
    ["relative to the host, as Go hosts give them", true],
  ])("sends capability calls to the next replica, grant endpoints %s", async (_, relative) => {
    const [a, b] = await replicas(2, { relativeGrantEndpoints: relative });
    const p = plugin({ healthReportIntervalMs: 0 });
    await p.join([a!.url, b!.url]);
    const log = p.capability(Logger);
    await log.log({ level: "info", message: "one" });
    await a!.nextReport(0);
    await a!.closeWhenIdle();

    await log.log({ level: "info", message: "two" });
    expect([a!.logged.map((l) => l.message), b!.logged.map((l) => l.message)]).toEqual([
      ["one"],
      ["two"],
    ]);
    // The grant is shared: no new one was requested.
    expect(b!.calls).toEqual(["/capabilities/logger/grant-1/capability.logger.v1.Logger/Log"]);
    expect(p.credentials?.hostUrl).toBe(b!.url);
  });

  it("does not fail over when a capability answers unavailable", async () => {
    const [a, b] = await replicas(2);
    const p = plugin({ healthReportIntervalMs: 0 });
    await p.join([a!.url, b!.url]);
    const error = await errorOf(
      p.capability(Logger).log({ level: "info", message: "unavailable" }),
    );
    expect([error?.code, error?.rawMessage]).toEqual([Code.Unavailable, "log sink unavailable"]);
    expect(p.credentials?.hostUrl).toBe(a!.url);
    expect(b!.calls).toEqual([]);
  });
});
