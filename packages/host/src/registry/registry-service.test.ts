import { Code, createClient } from "@connectrpc/connect";
import { HealthState, PluginLifecycle, ServiceRegistry, ServiceState } from "@cpg/protocol";
import { processWarnings } from "@cpg/test-utils";
import { afterEach, describe, expect, it } from "vitest";
import type { Host } from "../host.js";
import type { HostOptions } from "../host-options.js";
import { joinInMemory, testHost } from "../test-support/test-host.js";

let host: Host;
afterEach(() => host?.close());

const BASE = { base_url: "http://127.0.0.1:9" };

async function provider(
  h: Host,
  selfId: string,
  type: string,
  version = "1.0.0",
  metadata: Record<string, string> = BASE,
) {
  const p = await joinInMemory(h, selfId);
  const registry = createClient(ServiceRegistry, p.transport);
  const { registrationId } = await registry.registerService({
    serviceType: type,
    version,
    endpointPath: `/${type}.v1.Service/`,
    metadata,
  });
  return { ...p, registry, registrationId, lifecycle: createClient(PluginLifecycle, p.transport) };
}

function start(options: HostOptions = {}) {
  host = testHost(options);
  return host;
}

describe("ServiceRegistry", () => {
  it("needs a runtime identity for every procedure", async () => {
    start();
    const anonymous = createClient(ServiceRegistry, host.createInMemoryTransport());
    for (const call of [
      () =>
        anonymous.registerService({
          serviceType: "kv",
          version: "1.0.0",
          endpointPath: "/",
          metadata: BASE,
        }),
      () => anonymous.unregisterService({ registrationId: "reg-1" }),
      () => anonymous.discoverService({ serviceType: "kv" }),
      async () => {
        for await (const _ of anonymous.watchService({ serviceType: "kv" })) break;
      },
    ]) {
      await expect(call()).rejects.toMatchObject({ code: Code.Unauthenticated });
    }
  });

  it("discovers a registered provider with its router endpoint", async () => {
    start();
    const kv = await provider(host, "kv-store", "kv", "1.2.0", { ...BASE, zone: "a" });
    const caller = await joinInMemory(host, "cache");
    const res = await createClient(ServiceRegistry, caller.transport).discoverService({
      serviceType: "kv",
    });
    expect(res.singleProvider).toBe(true);
    expect(res.endpoint).toMatchObject({
      providerId: kv.runtimeId,
      version: "1.2.0",
      endpointUrl: `/services/kv/${kv.runtimeId}`,
      metadata: { zone: "a" },
    });
    // base_url is not handed to discoverers unless the host is configured to.
    expect(res.endpoint?.metadata.base_url).toBeUndefined();
  });

  it("compares min_version as semver: 10.0.0 satisfies 9.0.0", async () => {
    start();
    await provider(host, "kv-store", "kv", "10.0.0");
    const caller = await joinInMemory(host, "cache");
    const registry = createClient(ServiceRegistry, caller.transport);
    expect(
      (await registry.discoverService({ serviceType: "kv", minVersion: "9.0.0" })).endpoint
        ?.version,
    ).toBe("10.0.0");
    await expect(
      registry.discoverService({ serviceType: "kv", minVersion: "11.0.0" }),
    ).rejects.toMatchObject({
      code: Code.NotFound,
      rawMessage: 'no available provider of service type "kv" with version >= 11.0.0',
    });
  });

  it("does not route to unhealthy providers, and reports degraded ones", async () => {
    start();
    const kv = await provider(host, "kv-store", "kv");
    const caller = await joinInMemory(host, "cache");
    const registry = createClient(ServiceRegistry, caller.transport);
    await kv.lifecycle.reportHealth({ state: HealthState.UNHEALTHY, reason: "disk full" });
    await expect(registry.discoverService({ serviceType: "kv" })).rejects.toMatchObject({
      code: Code.NotFound,
    });
    await kv.lifecycle.reportHealth({ state: HealthState.DEGRADED });
    expect((await registry.discoverService({ serviceType: "kv" })).endpoint?.providerId).toBe(
      kv.runtimeId,
    );
  });

  it("replaces a duplicate registration instead of piling up", async () => {
    start();
    const kv = await provider(host, "kv-store", "kv");
    const again = await kv.registry.registerService({
      serviceType: "kv",
      version: "1.1.0",
      endpointPath: "/kv.v1.Service/",
      metadata: BASE,
    });
    expect(again.registrationId).not.toBe(kv.registrationId);
    expect(host.registry.providers("kv").map((r) => [r.id, r.version])).toEqual([
      [again.registrationId, "1.1.0"],
    ]);
  });

  it("lets only the owner unregister", async () => {
    start();
    const kv = await provider(host, "kv-store", "kv");
    const other = await joinInMemory(host, "intruder");
    await expect(
      createClient(ServiceRegistry, other.transport).unregisterService({
        registrationId: kv.registrationId,
      }),
    ).rejects.toMatchObject({
      code: Code.NotFound,
      rawMessage: `no registration ${kv.registrationId} of this plugin`,
    });
    expect(host.registry.get(kv.registrationId)).toBeDefined();
    await kv.registry.unregisterService({ registrationId: kv.registrationId });
    expect(host.registry.get(kv.registrationId)).toBeUndefined();
  });

  it("removes a runtime's registrations when its identity ends", async () => {
    start();
    const kv = await provider(host, "kv-store", "kv");
    host.identities.revoke(kv.runtimeId);
    expect(host.registry.providers("kv")).toEqual([]);
  });

  it("rotates providers round-robin, correctly as providers come and go", async () => {
    start();
    const a = await provider(host, "kv-a", "kv");
    const b = await provider(host, "kv-b", "kv");
    const caller = await joinInMemory(host, "cache");
    const registry = createClient(ServiceRegistry, caller.transport);
    const pick = async () =>
      (await registry.discoverService({ serviceType: "kv" })).endpoint?.providerId;
    expect([await pick(), await pick(), await pick()]).toEqual([
      a.runtimeId,
      b.runtimeId,
      a.runtimeId,
    ]);
    await b.registry.unregisterService({ registrationId: b.registrationId });
    expect([await pick(), await pick()]).toEqual([a.runtimeId, a.runtimeId]);
  });

  it("refuses base_url values that are not absolute http(s) URLs or outside the allow-list", async () => {
    start({ upstreamAllowList: ["10.0.0.0/8"] });
    const p = await joinInMemory(host, "kv-store");
    const registry = createClient(ServiceRegistry, p.transport);
    for (const base_url of [
      "ftp://10.0.0.1",
      "http://user:pw@10.0.0.1",
      "http://10.0.0.1/?q=1",
      "http://192.168.1.1:80",
    ]) {
      await expect(
        registry.registerService({
          serviceType: "kv",
          version: "1.0.0",
          endpointPath: "/",
          metadata: { base_url },
        }),
      ).rejects.toMatchObject({ code: Code.InvalidArgument });
    }
    await registry.registerService({
      serviceType: "kv",
      version: "1.0.0",
      endpointPath: "/",
      metadata: { base_url: "http://10.1.2.3:8080" },
    });
  });

  it("needs a base_url unless the host knows where the plugin listens", async () => {
    start();
    const p = await joinInMemory(host, "kv-store");
    await expect(
      createClient(ServiceRegistry, p.transport).registerService({
        serviceType: "kv",
        version: "1.0.0",
        endpointPath: "/",
        metadata: {},
      }),
    ).rejects.toMatchObject({ code: Code.FailedPrecondition });
  });
});

describe("registration and discovery policies", () => {
  it("only lets a plugin register the service types it is allowed (REG-CRIT-001)", async () => {
    start({
      profile: "production",
      allowInsecure: true,
      policies: { registration: { "kv-store": ["kv"] } },
    });
    await provider(host, "kv-store", "kv");
    const rogue = await joinInMemory(host, "rogue");
    await expect(
      createClient(ServiceRegistry, rogue.transport).registerService({
        serviceType: "kv",
        version: "1.0.0",
        endpointPath: "/",
        metadata: BASE,
      }),
    ).rejects.toMatchObject({
      code: Code.PermissionDenied,
      rawMessage: 'plugin "rogue" may not register service type "kv"',
    });
  });

  it("keeps a service type with its first provider unless another is named for it (REG-CRIT-002)", async () => {
    start({
      profile: "production",
      allowInsecure: true,
      policies: { registration: { "kv-store": ["kv"], wildcard: ["*"], "kv-replica": ["kv"] } },
    });
    await provider(host, "kv-store", "kv");
    const wildcard = await joinInMemory(host, "wildcard");
    await expect(
      createClient(ServiceRegistry, wildcard.transport).registerService({
        serviceType: "kv",
        version: "1.0.0",
        endpointPath: "/",
        metadata: BASE,
      }),
    ).rejects.toMatchObject({ code: Code.PermissionDenied });
    await provider(host, "kv-replica", "kv");
    expect(host.registry.providers("kv").map((r) => r.selfId)).toEqual(["kv-store", "kv-replica"]);
  });

  it("limits discovery and watch to what the caller may see (PROTO-HIGH-004)", async () => {
    start({
      profile: "production",
      allowInsecure: true,
      policies: { registration: { "kv-store": ["kv"] }, discovery: { cache: ["kv"] } },
    });
    await provider(host, "kv-store", "kv");
    const cache = await joinInMemory(host, "cache");
    const snoop = await joinInMemory(host, "snoop");
    expect(
      (await createClient(ServiceRegistry, cache.transport).discoverService({ serviceType: "kv" }))
        .endpoint,
    ).toBeDefined();
    const registry = createClient(ServiceRegistry, snoop.transport);
    await expect(registry.discoverService({ serviceType: "kv" })).rejects.toMatchObject({
      code: Code.PermissionDenied,
      rawMessage: 'plugin "snoop" may not discover service type "kv"',
    });
    await expect(
      (async () => {
        for await (const _ of registry.watchService({ serviceType: "kv" })) break;
      })(),
    ).rejects.toMatchObject({ code: Code.PermissionDenied });
  });

  it("lets a plugin discover what it declared in requires", async () => {
    start({
      profile: "production",
      allowInsecure: true,
      policies: { registration: { "kv-store": ["kv"] } },
    });
    await provider(host, "kv-store", "kv");
    const cache = await joinInMemory(host, "cache", { requires: [{ type: "kv" }] });
    const res = await createClient(ServiceRegistry, cache.transport).discoverService({
      serviceType: "kv",
    });
    expect(res.endpoint?.providerId).toBeDefined();
  });
});

describe("WatchService", () => {
  it("starts with the current state and follows register, health and unregister", async () => {
    start();
    const watcher = await joinInMemory(host, "cache");
    const abort = new AbortController();
    const events: Array<[ServiceState, string]> = [];
    const stream = createClient(ServiceRegistry, watcher.transport).watchService(
      { serviceType: "kv" },
      { signal: abort.signal },
    );
    const seen = (n: number) =>
      new Promise<void>((resolve) => {
        const check = () => (events.length >= n ? resolve() : setTimeout(check, 5));
        check();
      });
    const reading = (async () => {
      for await (const e of stream) events.push([e.state, e.endpoint?.providerId ?? ""]);
    })().catch(() => {});
    await seen(1);
    expect(events[0]).toEqual([ServiceState.UNAVAILABLE, ""]);
    const kv = await provider(host, "kv-store", "kv");
    await seen(2);
    await kv.lifecycle.reportHealth({ state: HealthState.HEALTHY });
    await kv.lifecycle.reportHealth({ state: HealthState.UNHEALTHY });
    await seen(3);
    await kv.lifecycle.reportHealth({ state: HealthState.HEALTHY });
    await seen(4);
    await kv.lifecycle.reportHealth({ state: HealthState.DEGRADED });
    await seen(5);
    await kv.registry.unregisterService({ registrationId: kv.registrationId });
    await seen(6);
    abort.abort();
    await reading;
    expect(events).toEqual([
      [ServiceState.UNAVAILABLE, ""],
      [ServiceState.AVAILABLE, kv.runtimeId],
      // HEALTHY after AVAILABLE changes nothing: collapsed.
      [ServiceState.UNAVAILABLE, ""],
      [ServiceState.AVAILABLE, kv.runtimeId],
      [ServiceState.DEGRADED, kv.runtimeId],
      [ServiceState.UNAVAILABLE, ""],
    ]);
    expect(host.registry.size).toBe(0);
  });

  it("serves many watchers at once without Node warning of a listener leak", async () => {
    start();
    const watcher = await joinInMemory(host, "cache");
    const registry = createClient(ServiceRegistry, watcher.transport);
    const warnings = await processWarnings(async () => {
      const aborts = Array.from({ length: 25 }, () => new AbortController());
      // 25 streams open at once, each waiting for its next event.
      const opened = aborts.map(async (abort) => {
        const it = registry
          .watchService({ serviceType: "kv" }, { signal: abort.signal })
          [Symbol.asyncIterator]();
        return (await it.next()).value?.state;
      });
      expect(await Promise.all(opened)).toEqual(aborts.map(() => ServiceState.UNAVAILABLE));
      for (const abort of aborts) abort.abort();
    });
    expect(warnings).toEqual([]);
  });

  it("gives a slow watcher the latest state, not a backlog", async () => {
    start();
    const watcher = await joinInMemory(host, "cache");
    const kv = await provider(host, "kv-store", "kv");
    const abort = new AbortController();
    const iterator = createClient(ServiceRegistry, watcher.transport)
      .watchService({ serviceType: "kv" }, { signal: abort.signal })
      [Symbol.asyncIterator]();
    expect((await iterator.next()).value.state).toBe(ServiceState.AVAILABLE);
    // Many changes while the watcher does not read.
    for (let i = 0; i < 200; i++) {
      await kv.lifecycle.reportHealth({
        state: i % 2 === 0 ? HealthState.UNHEALTHY : HealthState.DEGRADED,
      });
    }
    const next = await iterator.next();
    expect(next.value.state).toBe(ServiceState.DEGRADED);
    abort.abort();
  });
});
