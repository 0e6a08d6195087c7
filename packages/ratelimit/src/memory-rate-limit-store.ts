import { type Clock, monotonicClock } from "./clock.js";
import type { RateLimitDecision } from "./rate-limit-decision.js";
import { RateLimitError } from "./rate-limit-error.js";
import type { RateLimitStore, TokenBucketLimit } from "./rate-limit-store.js";
import { invalidCost, validateCount } from "./validate.js";

/**
 * Options of {@link createMemoryRateLimitStore}.
 */
export interface MemoryRateLimitStoreOptions {
  /** Time source. Default: {@link monotonicClock}. */
  clock?: Clock;
  /**
   * Most buckets kept at once. When a new key arrives at the cap, the first
   * bucket among the oldest eight that is full again is dropped, else the
   * oldest bucket is (which hands that key a full bucket). Size it above the
   * number of distinct callers you expect within `sweepIntervalMs`.
   * Default: `100_000`.
   */
  maxKeys?: number;
  /**
   * How often idle buckets are dropped, in milliseconds. A bucket that has
   * refilled to `burst` behaves exactly like a missing one, so dropping it
   * changes no decision. The timer is `unref`'d; `close()` stops it. `0`
   * disables the timer (call `sweep()` yourself). Default: `60_000`.
   */
  sweepIntervalMs?: number;
}

/**
 * The in-memory {@link RateLimitStore}: a `Map` of token buckets with bounded
 * size. Every method answers synchronously.
 */
export interface MemoryRateLimitStore extends RateLimitStore {
  /** {@inheritDoc RateLimitStore.consume} Always synchronous here. */
  consume(key: string, limit: TokenBucketLimit, cost: number): RateLimitDecision;
  /**
   * Like `consume` but answers only whether the tokens were granted, without
   * allocating: the fast path for callers that need no retry hint.
   */
  tryConsume(key: string, limit: TokenBucketLimit, cost: number): boolean;
  /** Number of buckets currently held. */
  readonly size: number;
  /** Drops every bucket that is full again; returns how many were dropped. */
  sweep(): number;
  /** Stops the sweep timer and drops all buckets. Idempotent. */
  close(): void;
}

/** Tolerance for floating-point noise, in milliseconds of bucket time. */
const EPSILON_MS = 1e-6;
/** Tolerance for floating-point noise, in tokens. */
const EPSILON_TOKENS = 1e-9;
/** How many of the oldest buckets are checked for a full one at the cap. */
const EVICTION_SCAN = 8;

/**
 * One bucket, kept as its "theoretical arrival time" (GCRA): the moment at
 * which it is full again. A bucket of `burst` tokens refilled at `rate`
 * tokens per second holds `burst - max(0, full - now) * rate / 1000` tokens,
 * so this one number is the whole state, and `full <= now` means the bucket
 * can be dropped.
 */
interface Bucket {
  full: number;
}

/**
 * Creates the in-memory {@link RateLimitStore}. {@link createRateLimiter} and
 * {@link createRateLimitInterceptor} create one when you pass no store; create
 * it yourself to share buckets or to close it.
 *
 * @example
 * ```ts
 * const store = createMemoryRateLimitStore({ maxKeys: 10_000 });
 * store.consume("ip:203.0.113.7", { rate: 5, burst: 10 }, 1); // { allowed: true, remaining: 9, retryAfterMs: 0 }
 * store.close();
 * ```
 */
export function createMemoryRateLimitStore(
  options: MemoryRateLimitStoreOptions = {},
): MemoryRateLimitStore {
  const where = "createMemoryRateLimitStore";
  const clock = options.clock ?? monotonicClock;
  const maxKeys = validateCount(where, "maxKeys", options.maxKeys ?? 100_000);
  const sweepIntervalMs = options.sweepIntervalMs ?? 60_000;
  if (!(sweepIntervalMs >= 0) || !Number.isFinite(sweepIntervalMs)) {
    throw new RateLimitError(
      "invalid_option",
      `${where}: sweepIntervalMs must be a finite number of milliseconds >= 0 (0 disables the timer), got ${String(sweepIntervalMs)}`,
    );
  }
  if (typeof clock.now !== "function") {
    throw new RateLimitError(
      "invalid_option",
      `${where}: clock must have a now() method returning milliseconds`,
    );
  }

  const buckets = new Map<string, Bucket>();
  /**
   * `gap[0]`, after `decide`: how far the bucket's full time would be ahead
   * of now with the request granted, in milliseconds (granted when that is
   * within `burst` tokens' worth of time). A typed array, because writing a
   * float to a closure variable allocates a number on every decision.
   */
  const gap = new Float64Array(1);

  function makeRoom(now: number): void {
    let scanned = 0;
    let oldest: string | undefined;
    for (const [key, bucket] of buckets) {
      if (bucket.full <= now) {
        buckets.delete(key);
        return;
      }
      oldest ??= key;
      if (++scanned >= EVICTION_SCAN) break;
    }
    if (oldest !== undefined) buckets.delete(oldest);
  }

  function decide(key: string, rate: number, burst: number, cost: number): boolean {
    if (!(cost > 0 && cost <= burst)) throw invalidCost(cost, burst);
    const now = clock.now();
    const perToken = 1000 / rate;
    const bucket = buckets.get(key);
    if (bucket === undefined) {
      // A missing bucket is a full one: the request always fits.
      if (buckets.size >= maxKeys) makeRoom(now);
      const ahead = cost * perToken;
      gap[0] = ahead;
      // An object literal initialised with a number keeps `full` an
      // unboxed double field, updated in place.
      buckets.set(key, { full: now + ahead });
      return true;
    }
    // Time until full now (0 when full), plus the time `cost` tokens take.
    const ahead = (bucket.full > now ? bucket.full - now : 0) + cost * perToken;
    gap[0] = ahead;
    // Denied: nothing is taken and nothing changes.
    if (ahead > burst * perToken + EPSILON_MS) return false;
    bucket.full = now + ahead;
    return true;
  }

  function sweep(): number {
    const now = clock.now();
    let dropped = 0;
    for (const [key, bucket] of buckets) {
      if (bucket.full <= now) {
        buckets.delete(key);
        dropped++;
      }
    }
    return dropped;
  }

  let timer: ReturnType<typeof setInterval> | undefined;
  if (sweepIntervalMs > 0) {
    timer = setInterval(sweep, sweepIntervalMs);
    timer.unref?.();
  }

  const store: Omit<MemoryRateLimitStore, "size"> = {
    consume(key: string, limit: TokenBucketLimit, cost: number): RateLimitDecision {
      const allowed = decide(key, limit.rate, limit.burst, cost);
      const perToken = 1000 / limit.rate;
      // Tokens left if granted: what the gap leaves of the burst.
      const left = (limit.burst * perToken - gap[0]!) / perToken;
      if (allowed) {
        return { allowed, remaining: Math.floor(left + EPSILON_TOKENS), retryAfterMs: 0 };
      }
      return {
        allowed,
        remaining: Math.floor(left + cost + EPSILON_TOKENS),
        retryAfterMs: Math.ceil(-left * perToken - EPSILON_MS),
      };
    },
    tryConsume(key: string, limit: TokenBucketLimit, cost: number): boolean {
      return decide(key, limit.rate, limit.burst, cost);
    },
    sweep,
    close(): void {
      if (timer !== undefined) clearInterval(timer);
      timer = undefined;
      buckets.clear();
    },
  };
  // Not a getter in the literal: V8 keeps object literals with accessors in
  // slow dictionary mode, and every method call would pay for that.
  return Object.defineProperty(store, "size", {
    get: () => buckets.size,
    enumerable: true,
  }) as MemoryRateLimitStore;
}
