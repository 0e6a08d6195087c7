import { afterEach, describe, expect, it, vi } from "vitest";
import { monotonicClock } from "./clock.js";
import { createManualClock } from "./manual-clock.js";
import { createMemoryRateLimitStore } from "./memory-rate-limit-store.js";
import { isRateLimitError, RateLimitError } from "./rate-limit-error.js";
import type { RateLimitStore } from "./rate-limit-store.js";
import { createRateLimiter, type SyncRateLimiter } from "./rate-limiter.js";

const open: { close(): unknown }[] = [];
afterEach(() => {
  for (const item of open.splice(0)) item.close();
  vi.useRealTimers();
});

function limiter(rate: number, burst: number) {
  const clock = createManualClock(1_000);
  const l: SyncRateLimiter = createRateLimiter({ rate, burst, clock });
  open.push(l);
  return { clock, l };
}

describe("token bucket arithmetic (fake clock)", () => {
  it("starts full, drains, reports remaining and the exact wait", () => {
    const { clock, l } = limiter(2, 3);
    expect(l.take("a")).toEqual({ allowed: true, remaining: 2, retryAfterMs: 0 });
    expect(l.take("a")).toEqual({ allowed: true, remaining: 1, retryAfterMs: 0 });
    expect(l.take("a")).toEqual({ allowed: true, remaining: 0, retryAfterMs: 0 });
    // 2 tokens per second: the next one is 500 ms away.
    expect(l.take("a")).toEqual({ allowed: false, remaining: 0, retryAfterMs: 500 });
    clock.advance(250);
    expect(l.take("a")).toEqual({ allowed: false, remaining: 0, retryAfterMs: 250 });
    clock.advance(249);
    expect(l.take("a")).toEqual({ allowed: false, remaining: 0, retryAfterMs: 1 });
    clock.advance(1);
    expect(l.take("a")).toEqual({ allowed: true, remaining: 0, retryAfterMs: 0 });
  });

  it("refills by elapsed time but never above burst", () => {
    const { clock, l } = limiter(10, 5);
    for (let i = 0; i < 5; i++) expect(l.tryTake("k")).toBe(true);
    expect(l.tryTake("k")).toBe(false);
    clock.advance(300); // 3 tokens
    expect(l.take("k")).toEqual({ allowed: true, remaining: 2, retryAfterMs: 0 });
    clock.advance(60_000); // far more than burst
    expect(l.take("k")).toEqual({ allowed: true, remaining: 4, retryAfterMs: 0 });
  });

  it("does not take tokens on denial", () => {
    const { clock, l } = limiter(1, 2);
    l.take("k", 2);
    for (let i = 0; i < 10; i++) expect(l.tryTake("k")).toBe(false);
    clock.advance(1000);
    expect(l.take("k")).toEqual({ allowed: true, remaining: 0, retryAfterMs: 0 });
  });

  it("handles costs above one and fractional rates", () => {
    const { clock, l } = limiter(0.5, 4);
    expect(l.take("k", 3)).toEqual({ allowed: true, remaining: 1, retryAfterMs: 0 });
    // 1 token held, 3 needed: 2 more at 0.5/s = 4000 ms.
    expect(l.take("k", 3)).toEqual({ allowed: false, remaining: 1, retryAfterMs: 4000 });
    clock.advance(4000);
    expect(l.take("k", 3)).toEqual({ allowed: true, remaining: 0, retryAfterMs: 0 });
  });

  it("rounds waits up, exactly, for rates that do not divide a second", () => {
    const { clock, l } = limiter(3, 1);
    l.take("k");
    expect(l.take("k").retryAfterMs).toBe(334); // 333.33... ms
    clock.advance(333);
    expect(l.take("k")).toEqual({ allowed: false, remaining: 0, retryAfterMs: 1 });
    clock.advance(1);
    expect(l.take("k").allowed).toBe(true);
    // Three tokens in exactly one second, no drift from float noise.
    const { clock: c2, l: l2 } = limiter(3, 3);
    for (let i = 0; i < 3; i++) l2.take("k");
    c2.advance(1000);
    expect(l2.take("k")).toEqual({ allowed: true, remaining: 2, retryAfterMs: 0 });
  });

  it("keeps one bucket per key", () => {
    const { l } = limiter(1, 1);
    expect(l.tryTake("alice")).toBe(true);
    expect(l.tryTake("alice")).toBe(false);
    expect(l.tryTake("bob")).toBe(true);
  });

  it("rejects costs outside (0, burst] with invalid_argument", () => {
    const { l } = limiter(1, 2);
    for (const cost of [0, -1, 3, Number.NaN]) {
      let caught: unknown;
      try {
        l.take("k", cost);
      } catch (error) {
        caught = error;
      }
      expect(isRateLimitError(caught)).toBe(true);
      expect((caught as RateLimitError).code).toBe("invalid_argument");
      expect((caught as RateLimitError).message).toBe(
        `cost must be a number > 0 and <= burst (2), got ${cost}`,
      );
    }
  });
});

describe("createRateLimiter configuration", () => {
  it.each([
    [
      { rate: 0, burst: 1 },
      "createRateLimiter: rate must be a finite number of tokens per second > 0, got 0",
    ],
    [
      { rate: Number.POSITIVE_INFINITY, burst: 1 },
      "createRateLimiter: rate must be a finite number of tokens per second > 0, got Infinity",
    ],
    [
      { rate: 1, burst: 0.5 },
      "createRateLimiter: burst must be a finite number >= 1 (the bucket capacity), got 0.5",
    ],
    [
      { rate: 1, burst: 1, maxKeys: 0 },
      "createMemoryRateLimitStore: maxKeys must be an integer >= 1, got 0",
    ],
    [
      { rate: 1, burst: 1, sweepIntervalMs: -1 },
      "createMemoryRateLimitStore: sweepIntervalMs must be a finite number of milliseconds >= 0 (0 disables the timer), got -1",
    ],
  ])("throws invalid_option for %o", (options, message) => {
    expect(() => createRateLimiter(options)).toThrow(new RateLimitError("invalid_option", message));
  });

  it("refuses memory-store options next to a store", () => {
    const store = createMemoryRateLimitStore();
    open.push(store);
    expect(() => createRateLimiter({ rate: 1, burst: 1, store, maxKeys: 5 })).toThrow(
      "createRateLimiter: maxKeys configures the default in-memory store; pass it to the store you create instead of to the limiter",
    );
  });

  it("does not mutate the caller's options", () => {
    const options = Object.freeze({ rate: 1, burst: 2 });
    const l = createRateLimiter(options);
    open.push(l);
    expect(l.limit).toEqual({ rate: 1, burst: 2 });
    expect(l.limit).not.toBe(options);
  });

  it("stays synchronous with a memory store and leaves a passed store open", () => {
    const clock = createManualClock();
    const store = createMemoryRateLimitStore({ clock });
    open.push(store);
    const a = createRateLimiter({ rate: 1, burst: 2, store });
    const b = createRateLimiter({ rate: 1, burst: 2, store });
    expect(a.take("k")).toEqual({ allowed: true, remaining: 1, retryAfterMs: 0 });
    expect(b.tryTake("k")).toBe(true); // same bucket, shared store
    expect(a.tryTake("k")).toBe(false);
    a.close();
    expect(store.size).toBe(1);
  });

  it("awaits asynchronous stores", async () => {
    const calls: string[] = [];
    const store: RateLimitStore = {
      consume: async (key, limit, cost) => {
        calls.push(`${key} ${limit.rate}/${limit.burst} x${cost}`);
        return { allowed: key === "yes", remaining: 0, retryAfterMs: key === "yes" ? 0 : 7 };
      },
      close: () => undefined,
    };
    const l = createRateLimiter({ rate: 4, burst: 8, store });
    await expect(l.take("no", 2)).resolves.toEqual({
      allowed: false,
      remaining: 0,
      retryAfterMs: 7,
    });
    await expect(l.tryTake("yes")).resolves.toBe(true);
    expect(calls).toEqual(["no 4/8 x2", "yes 4/8 x1"]);
  });
});

describe("monotonicClock", () => {
  it("reads the system clock once per synchronous run", async () => {
    const first = monotonicClock.now();
    let spin = 0;
    for (let i = 0; i < 1e6; i++) spin += i;
    expect(spin).toBeGreaterThan(0);
    expect(monotonicClock.now()).toBe(first);
    await Promise.resolve();
    const later = performance.now();
    await Promise.resolve();
    expect(monotonicClock.now()).toBeGreaterThanOrEqual(later);
  });
});
