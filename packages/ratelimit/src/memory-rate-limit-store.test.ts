import { afterEach, describe, expect, it, vi } from "vitest";
import { createManualClock } from "./manual-clock.js";
import {
  createMemoryRateLimitStore,
  type MemoryRateLimitStore,
} from "./memory-rate-limit-store.js";

const limit = { rate: 10, burst: 5 };
const stores: MemoryRateLimitStore[] = [];
afterEach(() => {
  for (const store of stores.splice(0)) store.close();
  vi.useRealTimers();
});

function store(options: Parameters<typeof createMemoryRateLimitStore>[0] = {}) {
  const clock = createManualClock();
  const s = createMemoryRateLimitStore({ clock, sweepIntervalMs: 0, ...options });
  stores.push(s);
  return { clock, s };
}

describe("memory store eviction", () => {
  it("drops exactly the buckets that are full again, without changing decisions", () => {
    const { clock, s } = store();
    s.consume("one", limit, 1); // full again after 100 ms
    s.consume("three", limit, 3); // after 300 ms
    expect(s.size).toBe(2);
    clock.advance(99);
    expect(s.sweep()).toBe(0);
    clock.advance(1);
    expect(s.sweep()).toBe(1);
    expect(s.size).toBe(1);
    // "three" still holds 5 - 3 + 1 = 3 tokens; "one" is full as if never dropped.
    expect(s.consume("three", limit, 1)).toEqual({ allowed: true, remaining: 2, retryAfterMs: 0 });
    expect(s.consume("one", limit, 1)).toEqual({ allowed: true, remaining: 4, retryAfterMs: 0 });
  });

  it("sweeps on an unref'd timer and stops it on close", () => {
    vi.useFakeTimers();
    const clock = createManualClock();
    const s = createMemoryRateLimitStore({ clock, sweepIntervalMs: 1000 });
    stores.push(s);
    expect(vi.getTimerCount()).toBe(1);
    s.consume("a", limit, 5);
    clock.advance(500);
    vi.advanceTimersByTime(1000);
    expect(s.size).toBe(0);
    s.close();
    expect(vi.getTimerCount()).toBe(0);
  });

  it("holds at most maxKeys buckets, dropping a full one before a busy one", () => {
    const { clock, s } = store({ maxKeys: 3 });
    s.consume("busy-1", limit, 5); // full after 500 ms
    s.consume("idle", limit, 1); // full after 100 ms
    s.consume("busy-2", limit, 5);
    clock.advance(100);
    s.consume("new", limit, 1);
    expect(s.size).toBe(3);
    // busy-1 kept its bucket (one token refilled, not a fresh five); idle was dropped.
    expect(s.consume("busy-1", limit, 1)).toEqual({ allowed: true, remaining: 0, retryAfterMs: 0 });
    expect(s.consume("busy-2", limit, 1)).toEqual({ allowed: true, remaining: 0, retryAfterMs: 0 });
  });

  it("drops the oldest bucket when none is full", () => {
    const { s } = store({ maxKeys: 2 });
    s.consume("first", limit, 5);
    s.consume("second", limit, 5);
    s.consume("third", limit, 5);
    expect(s.size).toBe(2);
    expect(s.consume("second", limit, 1).allowed).toBe(false);
    expect(s.consume("third", limit, 1).allowed).toBe(false);
  });

  it("stays bounded under a flood of distinct keys", () => {
    const { s } = store({ maxKeys: 1000 });
    for (let i = 0; i < 50_000; i++) s.tryConsume(`ip:${i}`, limit, 1);
    expect(s.size).toBe(1000);
  });

  it("drops all buckets on close", () => {
    const { s } = store();
    s.consume("a", limit, 1);
    s.close();
    expect(s.size).toBe(0);
  });
});
