import { Code, ConnectError } from "@connectrpc/connect";
import { createKvStore, type KvStore, kvPluginOptions } from "@cpg/demo-plugin-kv";
import { CacheService, KVService } from "@cpg/examples-proto";
import { createHost, type Host } from "@cpg/host";
import { createPlugin, type Plugin, silentLogger } from "@cpg/plugin-sdk";
import { HealthState } from "@cpg/protocol";
import { waitFor } from "@cpg/test-utils";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { cachePluginOptions } from "./plugin.js";

let host: Host;
let hostUrl: string;
let store: KvStore;
let kvPlugin: Plugin | undefined;
let cachePlugin: Plugin | undefined;
let stopWatching: (() => void) | undefined;
let caller: Plugin;

async function startKv() {
  kvPlugin = createPlugin(kvPluginOptions({ store, logger: silentLogger }));
  await kvPlugin.listen();
  await kvPlugin.join(hostUrl);
}

async function startCache() {
  const options = cachePluginOptions({ logger: silentLogger });
  const plugin = createPlugin(options);
  cachePlugin = plugin;
  stopWatching = options.attach(plugin);
  await plugin.listen();
  await plugin.join(hostUrl);
  await waitFor(() => host.registry.providers("cache").length === 1, {
    description: "cache registered",
  });
  return plugin;
}

/** The cache's Watch stream is open on the kv side. */
const cacheWatching = () =>
  waitFor(() => store.watcherCount === 1, { timeoutMs: 10_000, description: "cache watching kv" });

beforeEach(async () => {
  host = createHost({ logger: silentLogger, rateLimits: false });
  ({ url: hostUrl } = await host.listen());
  store = createKvStore();
  caller = createPlugin({ selfId: "cache-caller", version: "1.0.0", logger: silentLogger });
  await caller.join(hostUrl);
});

afterEach(async () => {
  stopWatching?.();
  stopWatching = undefined;
  await caller.close();
  await cachePlugin?.close();
  cachePlugin = undefined;
  store.close();
  await kvPlugin?.close();
  kvPlugin = undefined;
  await host.close();
});

describe("the cache plugin, through a host", () => {
  it("reads through to kv, then answers from the cache, counting hits and misses", async () => {
    await startKv();
    await startCache();
    await cacheWatching();
    store.put("greeting", "hello");
    const cache = caller.client(CacheService, { type: "cache" });

    expect(await cache.get({ key: "greeting" })).toMatchObject({
      value: "hello",
      found: true,
      fromCache: false,
    });
    expect(await cache.get({ key: "greeting" })).toMatchObject({
      value: "hello",
      found: true,
      fromCache: true,
    });
    expect(await cache.get({ key: "absent" })).toMatchObject({ found: false, fromCache: false });
    expect(await cache.stats({})).toMatchObject({ hits: 1n, misses: 2n });
  });

  it("drops an entry when kv reports a change on its Watch stream", async () => {
    await startKv();
    await startCache();
    await cacheWatching();
    const cache = caller.client(CacheService, { type: "cache" });
    const kv = caller.client(KVService, { type: "kv" });
    await kv.put({ key: "color", value: "red" });
    await cache.get({ key: "color" });
    expect((await cache.get({ key: "color" })).fromCache).toBe(true);

    // Written behind the cache's back, straight to kv.
    await kv.put({ key: "color", value: "blue" });
    const fresh = await waitFor(
      async () => {
        const res = await cache.get({ key: "color" });
        return res.value === "blue" ? res : undefined;
      },
      { description: "the cache to see the new value" },
    );
    expect(fresh.fromCache).toBe(false);
    expect((await cache.get({ key: "color" })).fromCache).toBe(true);

    await kv.delete({ key: "color" });
    await waitFor(async () => !(await cache.get({ key: "color" })).found, {
      description: "the cache to see the delete",
    });
  });

  it("writes through to kv on Set and caches the value", async () => {
    await startKv();
    await startCache();
    await cacheWatching();
    const cache = caller.client(CacheService, { type: "cache" });
    await cache.set({ key: "session", value: "s1", ttlSeconds: 30 });
    expect(store.get("session")).toEqual({ value: "s1", found: true });
    expect(await cache.get({ key: "session" })).toMatchObject({ value: "s1", fromCache: true });

    const error = await cache
      .set({ key: "session", value: "s2", ttlSeconds: -1 })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConnectError);
    expect((error as ConnectError).code).toBe(Code.InvalidArgument);
    expect((error as ConnectError).rawMessage).toBe(
      "ttl_seconds must be from 0 (the default of 60) to 86400, got -1",
    );
  });

  it("waits for kv: DEGRADED without it, then HEALTHY and watching once kv joins", async () => {
    const plugin = await startCache();
    const runtimeId = plugin.credentials!.runtimeId;
    await waitFor(() => host.health.get(runtimeId)?.state === HealthState.DEGRADED, {
      description: "cache degraded",
    });
    expect(plugin.health.reason).toBe("waiting for required services: kv");
    const error = await caller
      .client(CacheService, { type: "cache" })
      .get({ key: "k" })
      .catch((e: unknown) => e);
    expect(ConnectError.from(error).code).toBe(Code.Unavailable);
    expect(ConnectError.from(error).rawMessage).toBe('no available provider of service type "kv"');

    await startKv();
    await waitFor(() => host.health.get(runtimeId)?.state === HealthState.HEALTHY, {
      description: "cache healthy",
    });
    await cacheWatching();
    store.put("k", "v");
    expect(await caller.client(CacheService, { type: "cache" }).get({ key: "k" })).toMatchObject({
      value: "v",
      fromCache: false,
    });
  });

  it("answers unavailable when it is not attached to its plugin", async () => {
    await startKv();
    const options = cachePluginOptions({ selfId: "loose-cache", logger: silentLogger });
    const loose = createPlugin(options);
    try {
      await loose.listen();
      await loose.join(hostUrl);
      await waitFor(() => host.registry.providers("cache").length === 1);
      const error = await caller
        .client(CacheService, { type: "cache" })
        .get({ key: "k" })
        .catch((e: unknown) => e);
      expect(ConnectError.from(error).code).toBe(Code.Unavailable);
      expect(ConnectError.from(error).rawMessage).toBe("the cache is not ready yet");
    } finally {
      await loose.close();
    }
  });
});
