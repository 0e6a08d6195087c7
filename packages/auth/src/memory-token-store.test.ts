import { EventEmitter } from "node:events";
import { waitForEvent } from "@cpg/test-utils";
import { afterEach, describe, expect, it, vi } from "vitest";
import { type AuthError, isAuthError } from "./auth-error.js";
import { createMemoryTokenStore, type MemoryTokenStoreOptions } from "./memory-token-store.js";
import type { TokenEntry, TokenRemovalReason } from "./token-store.js";

const HOUR = 60 * 60 * 1000;

/** A store with a manual clock and a log of removals. */
function setup<T = string>(options: MemoryTokenStoreOptions<T> = {}) {
  const clock = { now: 1_000_000 };
  const removed: [string, TokenRemovalReason][] = [];
  const store = createMemoryTokenStore<T>({
    sweepIntervalMs: 0,
    now: () => clock.now,
    onRemove: (entry, reason) => removed.push([entry.id, reason]),
    ...options,
  });
  return { store, clock, removed };
}

function thrown(fn: () => unknown): AuthError {
  try {
    fn();
  } catch (error) {
    if (isAuthError(error)) return error;
    throw error;
  }
  throw new Error("expected an AuthError");
}

const stores: { close(): void }[] = [];
afterEach(() => {
  for (const s of stores.splice(0)) s.close();
  vi.restoreAllMocks();
});

describe("createMemoryTokenStore", () => {
  it("restores an entry issued elsewhere, token and expiry included, replacing its id", () => {
    const { store, clock, removed } = setup({ maxEntries: 1 });
    store.issue("local", "v");
    const restored = store.restore({
      id: "rt-1",
      token: "t".repeat(43),
      value: "facts",
      issuedAt: clock.now - 10,
      expiresAt: clock.now + 1_000,
    });
    // Not bounded by maxEntries: a replica mirrors what its peers hold.
    expect(store.size()).toBe(2);
    expect(store.verify("rt-1", "t".repeat(43))).toBe(restored);
    store.restore({ ...restored, token: "u".repeat(43) });
    expect(store.verify("rt-1", "t".repeat(43))).toBeUndefined();
    expect(store.verify("rt-1", "u".repeat(43))?.value).toBe("facts");
    expect(removed).toEqual([["rt-1", "replaced"]]);
    clock.now += 1_000;
    expect(store.verify("rt-1", "u".repeat(43))).toBeUndefined();
    expect(() => store.restore({ ...restored, token: "" })).toThrow(/restore needs an entry/);
    store.close();
    expect(() => store.restore(restored)).toThrow(/closed/);
  });

  it("issues entries with a fresh token and verifies them", () => {
    const { store, clock } = setup();
    const entry = store.issue("billing-1", "meta");
    expect(entry).toEqual({
      id: "billing-1",
      token: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
      value: "meta",
      issuedAt: clock.now,
      expiresAt: clock.now + 24 * HOUR,
    });
    expect(Object.isFrozen(entry)).toBe(true);
    expect(store.verify("billing-1", entry.token)).toBe(entry);
    expect(store.get("billing-1")).toBe(entry);
    expect(store.size()).toBe(1);
  });

  it("rejects wrong, empty, truncated and other ids' tokens", () => {
    const { store } = setup();
    const a = store.issue("a", "A");
    const b = store.issue("b", "B");
    expect(store.verify("a", b.token)).toBeUndefined(); // wrong identity
    expect(store.verify("a", "")).toBeUndefined();
    expect(store.verify("a", a.token.slice(0, -1))).toBeUndefined();
    expect(store.verify("a", `${a.token}x`)).toBeUndefined();
    expect(store.verify("c", a.token)).toBeUndefined();
    expect(store.verify("a", a.token)).toBe(a);
  });

  it("rejects a token wrong in any one character, and tokens of other lengths", () => {
    const { store } = setup();
    const entry = store.issue("a", "A");
    const { token } = entry;
    for (let i = 0; i < token.length; i++) {
      const wrong = `${token.slice(0, i)}${token[i] === "A" ? "B" : "A"}${token.slice(i + 1)}`;
      expect(store.verify("a", wrong)).toBeUndefined();
    }
    // What a header parser hands over: an equal string, not the stored one.
    expect(store.verify("a", Array.from(token).join(""))).toBe(entry);
    expect(store.verify("a", `${token}=`)).toBeUndefined(); // Go's padded form is another token
    expect(store.verify("a", token.slice(1))).toBeUndefined();
    expect(store.verify("a", `${token.slice(0, -1)}\u0100`)).toBeUndefined();

    const { store: short } = setup({ tokenBytes: 16 });
    const small = short.issue("a", "A");
    expect(small.token).toHaveLength(22);
    expect(short.verify("a", small.token)).toBe(small);
    expect(short.verify("a", token)).toBeUndefined();
    expect(store.verify("a", small.token)).toBeUndefined();
  });

  it("rejects the right token once it expired or was revoked", () => {
    const { store, clock } = setup({ ttlMs: 1000 });
    const expiring = store.issue("expiring", "v");
    const revoked = store.issue("revoked", "v");
    expect(store.revoke("revoked")).toBe(true);
    expect(store.verify("revoked", revoked.token)).toBeUndefined();
    clock.now += 999;
    expect(store.verify("expiring", expiring.token)).toBe(expiring);
    clock.now += 1;
    expect(store.verify("expiring", expiring.token)).toBeUndefined();
  });

  it("expires entries after the default TTL of 24 hours, and reports them once", () => {
    const { store, clock, removed } = setup();
    const entry = store.issue("x", "v");
    clock.now += 24 * HOUR - 1;
    expect(store.verify("x", entry.token)).toBe(entry);
    clock.now += 1;
    expect(store.verify("x", entry.token)).toBeUndefined();
    expect(store.get("x")).toBeUndefined();
    expect(removed).toEqual([["x", "expired"]]);
    expect(store.size()).toBe(0);
  });

  it("applies per-store and per-entry TTLs", () => {
    const { store, clock } = setup({ ttlMs: HOUR });
    const short = store.issue("short", "v", { ttlMs: 1000 });
    const normal = store.issue("normal", "v");
    expect(short.expiresAt).toBe(clock.now + 1000);
    expect(normal.expiresAt).toBe(clock.now + HOUR);
  });

  it("refuses a second live entry for an id unless replace is set", () => {
    const { store, removed } = setup();
    const first = store.issue("dup", "one");
    const error = thrown(() => store.issue("dup", "two"));
    expect(error.code).toBe("already_exists");
    expect(error.message).toBe(
      'token store: id "dup" already has a live entry; revoke it or pass replace: true',
    );
    expect(store.verify("dup", first.token)).toBe(first);

    const second = store.issue("dup", "two", { replace: true });
    expect(store.verify("dup", first.token)).toBeUndefined();
    expect(store.verify("dup", second.token)).toBe(second);
    expect(removed).toEqual([["dup", "replaced"]]);
  });

  it("reissues an id whose entry expired", () => {
    const { store, clock, removed } = setup({ ttlMs: 10 });
    store.issue("id", "old");
    clock.now += 10;
    expect(store.issue("id", "new").value).toBe("new");
    expect(removed).toEqual([["id", "expired"]]);
  });

  it("refreshes the expiry, keeping or rotating the token", () => {
    const { store, clock } = setup({ ttlMs: 1000 });
    const entry = store.issue("id", "v");
    clock.now += 900;
    const extended = store.refresh("id")!;
    expect(extended.token).toBe(entry.token);
    expect(extended.issuedAt).toBe(entry.issuedAt);
    expect(extended.expiresAt).toBe(clock.now + 1000);
    clock.now += 900;
    expect(store.verify("id", entry.token)).toBe(extended);

    const rotated = store.refresh("id", { rotate: true, ttlMs: 5000 })!;
    expect(rotated.token).not.toBe(entry.token);
    expect(rotated.issuedAt).toBe(clock.now);
    expect(rotated.expiresAt).toBe(clock.now + 5000);
    expect(store.verify("id", entry.token)).toBeUndefined();
    expect(store.verify("id", rotated.token)).toBe(rotated);

    clock.now += 5000;
    expect(store.refresh("id")).toBeUndefined(); // expired entries cannot be refreshed
    expect(store.refresh("unknown")).toBeUndefined();
  });

  it("revokes one entry, or all matching a predicate", () => {
    const { store, removed } = setup<{ runtime: string }>();
    const a = store.issue("g1", { runtime: "a" });
    store.issue("g2", { runtime: "a" });
    const b = store.issue("g3", { runtime: "b" });
    expect(store.revoke("g1")).toBe(true);
    expect(store.revoke("g1")).toBe(false);
    expect(store.verify("g1", a.token)).toBeUndefined();
    expect(store.revokeWhere((e) => e.value.runtime === "a")).toBe(1);
    expect(store.verify("g3", b.token)).toBe(b);
    expect(removed).toEqual([
      ["g1", "revoked"],
      ["g2", "revoked"],
    ]);
  });

  it("sweeps expired entries on demand", () => {
    const { store, clock, removed } = setup({ ttlMs: 100 });
    store.issue("old", "v");
    clock.now += 50;
    store.issue("young", "v");
    clock.now += 50;
    expect(store.sweep()).toBe(1);
    expect(removed).toEqual([["old", "expired"]]);
    expect(store.size()).toBe(1);
  });

  it("sweeps in the background with an unref'd timer", async () => {
    const setInterval = vi.spyOn(globalThis, "setInterval");
    const events = new EventEmitter();
    const clock = { now: 0 };
    const store = createMemoryTokenStore({
      ttlMs: 100,
      sweepIntervalMs: 5,
      now: () => clock.now,
      onRemove: (entry: TokenEntry<undefined>, reason) => events.emit("removed", entry.id, reason),
    });
    stores.push(store);
    const timer = setInterval.mock.results[0]!.value as NodeJS.Timeout;
    expect(timer.hasRef()).toBe(false);
    store.issue("a", undefined);
    const removed = waitForEvent(events, "removed", { timeoutMs: 2000 });
    clock.now = 100;
    await expect(removed).resolves.toEqual(["a", "expired"]);
    expect(store.size()).toBe(0);
  });

  it("is bounded: refuses new entries when full instead of evicting live ones", () => {
    const { store, clock } = setup({ maxEntries: 2, ttlMs: 100 });
    const a = store.issue("a", "v");
    store.issue("b", "v");
    const error = thrown(() => store.issue("c", "v"));
    expect(error.code).toBe("store_full");
    expect(error.message).toBe("token store is full (maxEntries: 2); no entry was evicted");
    expect(store.verify("a", a.token)).toBe(a);
    expect(store.issue("a", "v2", { replace: true }).value).toBe("v2"); // replacing does not grow
    clock.now += 100; // both expire: room again
    expect(store.issue("c", "v").id).toBe("c");
    expect(store.size()).toBe(1);
  });

  it("leaves the store unchanged when the random source fails", () => {
    const { store } = setup({
      randomSource: () => {
        throw new Error("no entropy");
      },
    });
    const error = thrown(() => store.issue("a", "v"));
    expect(error.code).toBe("random_source_failed");
    expect(store.size()).toBe(0);
  });

  it("stops its timer and refuses work after close", () => {
    const clearInterval = vi.spyOn(globalThis, "clearInterval");
    const store = createMemoryTokenStore({ sweepIntervalMs: 1000 });
    const entry = store.issue("a", undefined);
    store.close();
    expect(clearInterval).toHaveBeenCalledTimes(1);
    expect(store.verify("a", entry.token)).toBeUndefined();
    expect(store.size()).toBe(0);
    expect(thrown(() => store.issue("b", undefined)).code).toBe("store_closed");
    expect(thrown(() => store.refresh("a")).code).toBe("store_closed");
  });

  it.each([
    [
      { ttlMs: 0 },
      "createMemoryTokenStore: ttlMs must be a positive finite number of milliseconds, got 0",
    ],
    [
      { ttlMs: Number.POSITIVE_INFINITY },
      "createMemoryTokenStore: ttlMs must be a positive finite number of milliseconds, got Infinity",
    ],
    [{ maxEntries: 0 }, "createMemoryTokenStore: maxEntries must be a positive integer, got 0"],
    [
      { sweepIntervalMs: -1 },
      "createMemoryTokenStore: sweepIntervalMs must be 0 (off) or an integer up to 2147483647, got -1",
    ],
    [
      { tokenBytes: 8 },
      "createMemoryTokenStore: tokenBytes must be an integer from 16 to 1024, got 8",
    ],
    [{ now: 5 as unknown as () => number }, "createMemoryTokenStore: now must be a function"],
  ])("rejects invalid options %j", (options, message) => {
    const error = thrown(() => createMemoryTokenStore(options));
    expect(error.code).toBe("invalid_options");
    expect(error.message).toBe(message);
  });

  it("rejects an empty id and a bad per-entry TTL", () => {
    const { store } = setup();
    expect(thrown(() => store.issue("", "v")).message).toBe(
      "token store: id must be a non-empty string",
    );
    expect(thrown(() => store.issue("a", "v", { ttlMs: -5 })).code).toBe("invalid_options");
  });

  it("does not mutate the caller's options", () => {
    const options = Object.freeze({ ttlMs: 5000, sweepIntervalMs: 0 });
    const store = createMemoryTokenStore(options);
    stores.push(store);
    expect(options).toEqual({ ttlMs: 5000, sweepIntervalMs: 0 });
  });
});
