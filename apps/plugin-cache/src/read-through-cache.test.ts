import { describe, expect, it } from "vitest";
import { createReadThroughCache, type KvBackend } from "./read-through-cache.js";

/** A store behind the cache whose calls can be held open. */
function fakeBackend() {
  const data = new Map<string, string>();
  let gate: Promise<void> | undefined;
  const calls: string[] = [];
  const backend: KvBackend = {
    async get(key) {
      calls.push(`get ${key}`);
      const value = data.get(key);
      await gate;
      return value === undefined ? { value: "", found: false } : { value, found: true };
    },
    async put(key, value) {
      calls.push(`put ${key}`);
      data.set(key, value);
      await gate;
    },
  };
  return {
    backend,
    data,
    calls,
    /** Holds every call until the returned function is called. */
    hold(): () => void {
      let release!: () => void;
      gate = new Promise((resolve) => {
        release = resolve;
      });
      return () => {
        gate = undefined;
        release();
      };
    },
  };
}

function clock(start = 1_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

describe("createReadThroughCache", () => {
  it("reads through and caches nothing while suspended (before the change stream is up)", async () => {
    const { backend, data, calls } = fakeBackend();
    const cache = createReadThroughCache({ backend });
    data.set("a", "1");
    expect(cache.active).toBe(false);
    expect(await cache.get("a")).toEqual({ value: "1", found: true, fromCache: false });
    expect(await cache.get("a")).toEqual({ value: "1", found: true, fromCache: false });
    expect(calls).toEqual(["get a", "get a"]);
    expect(cache.stats()).toEqual({ hits: 0, misses: 2 });
  });

  it("answers from the cache once resumed, counting hits and misses", async () => {
    const { backend, data, calls } = fakeBackend();
    const cache = createReadThroughCache({ backend });
    cache.resume();
    data.set("a", "1");
    expect(await cache.get("a")).toEqual({ value: "1", found: true, fromCache: false });
    expect(await cache.get("a")).toEqual({ value: "1", found: true, fromCache: true });
    // Absent keys are cached too: a Put shows up on the change stream.
    expect(await cache.get("b")).toEqual({ value: "", found: false, fromCache: false });
    expect(await cache.get("b")).toEqual({ value: "", found: false, fromCache: true });
    expect(calls).toEqual(["get a", "get b"]);
    expect(cache.stats()).toEqual({ hits: 2, misses: 2 });
  });

  it("expires entries after their TTL", async () => {
    const { backend, data } = fakeBackend();
    const c = clock();
    const cache = createReadThroughCache({ backend, defaultTtlMs: 1000, now: c.now });
    cache.resume();
    data.set("a", "1");
    await cache.get("a");
    c.advance(999);
    expect((await cache.get("a")).fromCache).toBe(true);
    c.advance(1);
    expect((await cache.get("a")).fromCache).toBe(false);
    await cache.set("s", "v", 5000);
    c.advance(4999);
    expect((await cache.get("s")).fromCache).toBe(true);
    c.advance(1);
    expect((await cache.get("s")).fromCache).toBe(false);
  });

  it("drops an entry when its key changes, and keeps it when the change brings the same value", async () => {
    const { backend, data } = fakeBackend();
    const cache = createReadThroughCache({ backend });
    cache.resume();
    data.set("a", "1");
    await cache.get("a");
    cache.applyChange({ key: "a", value: "1", deleted: false });
    expect((await cache.get("a")).fromCache).toBe(true);
    data.set("a", "2");
    cache.applyChange({ key: "a", value: "2", deleted: false });
    expect(await cache.get("a")).toEqual({ value: "2", found: true, fromCache: false });
    data.delete("a");
    cache.applyChange({ key: "a", value: "", deleted: true });
    expect(await cache.get("a")).toEqual({ value: "", found: false, fromCache: false });
  });

  it("does not cache a read that a change overtook while it was in flight", async () => {
    const store = fakeBackend();
    const cache = createReadThroughCache({ backend: store.backend });
    cache.resume();
    store.data.set("a", "old");
    const release = store.hold();
    const read = cache.get("a"); // reads "old"...
    cache.applyChange({ key: "a", value: "new", deleted: false }); // ...but "new" was written
    release();
    expect(await read).toEqual({ value: "old", found: true, fromCache: false });
    expect(cache.size).toBe(0);
  });

  it("caches what Set wrote, unless another value was seen meanwhile", async () => {
    const store = fakeBackend();
    const cache = createReadThroughCache({ backend: store.backend });
    cache.resume();
    await cache.set("a", "1");
    expect(store.data.get("a")).toBe("1");
    // The store echoes our own write on the change stream: the entry stays.
    cache.applyChange({ key: "a", value: "1", deleted: false });
    expect(await cache.get("a")).toEqual({ value: "1", found: true, fromCache: true });

    const release = store.hold();
    const write = cache.set("b", "mine");
    cache.applyChange({ key: "b", value: "mine", deleted: false });
    cache.applyChange({ key: "b", value: "theirs", deleted: false });
    release();
    await write;
    expect(cache.size).toBe(1); // only "a"
  });

  it("drops everything on suspend and does not cache reads that straddle it", async () => {
    const store = fakeBackend();
    const cache = createReadThroughCache({ backend: store.backend });
    cache.resume();
    store.data.set("a", "1");
    store.data.set("b", "2");
    await cache.get("a");
    const release = store.hold();
    const read = cache.get("b");
    cache.suspend();
    expect(cache.size).toBe(0);
    cache.resume();
    release();
    await read;
    expect(cache.size).toBe(0);
  });

  it("evicts the oldest entry beyond maxEntries", async () => {
    const { backend, data } = fakeBackend();
    const cache = createReadThroughCache({ backend, maxEntries: 2 });
    cache.resume();
    for (const k of ["a", "b", "c"]) {
      data.set(k, k);
      await cache.get(k);
    }
    expect(cache.size).toBe(2);
    expect((await cache.get("a")).fromCache).toBe(false);
    expect((await cache.get("c")).fromCache).toBe(true);
  });

  it("refuses a TTL or a size that is not positive", () => {
    const { backend } = fakeBackend();
    expect(() => createReadThroughCache({ backend, defaultTtlMs: 0 })).toThrow(
      "defaultTtlMs must be positive, got 0",
    );
    expect(() => createReadThroughCache({ backend, maxEntries: 0 })).toThrow(
      "maxEntries must be a positive integer, got 0",
    );
  });
});
