import type { Clock } from "./clock.js";
import { isPromiseLike } from "./is-promise-like.js";
import {
  createMemoryRateLimitStore,
  type MemoryRateLimitStore,
} from "./memory-rate-limit-store.js";
import type { RateLimitDecision } from "./rate-limit-decision.js";
import { RateLimitError } from "./rate-limit-error.js";
import type { RateLimitStore, TokenBucketLimit } from "./rate-limit-store.js";
import { validateLimit } from "./validate.js";

/**
 * Options of {@link createRateLimiter}.
 */
export interface RateLimiterOptions {
  /** Tokens added to each key's bucket per second; required, `> 0`. */
  rate: number;
  /** Capacity of each key's bucket, which starts full; required, `>= 1`. */
  burst: number;
  /**
   * Where buckets live. Default: a new in-memory store owned by the limiter
   * and closed by its `close()`. A store you pass is not closed by the limiter.
   */
  store?: RateLimitStore;
  /** Time source of the default store. Default: `monotonicClock`. Not allowed with `store`. */
  clock?: Clock;
  /** Bucket cap of the default store. Default: `100_000`. Not allowed with `store`. */
  maxKeys?: number;
  /** Idle-bucket sweep interval of the default store. Default: `60_000` ms. Not allowed with `store`. */
  sweepIntervalMs?: number;
}

/**
 * A token-bucket rate limiter: one bucket of `burst` tokens per key, refilled
 * at `rate` tokens per second.
 */
export interface RateLimiter {
  /** The limit every bucket of this limiter uses. */
  readonly limit: TokenBucketLimit;
  /**
   * Takes `cost` tokens (default `1`, at most `burst`) from `key`'s bucket if
   * it holds them. Synchronous with the in-memory store.
   */
  take(key: string, cost?: number): RateLimitDecision | Promise<RateLimitDecision>;
  /** Like `take` but answers only `allowed`; allocation-free with the in-memory store. */
  tryTake(key: string, cost?: number): boolean | Promise<boolean>;
  /** Closes the store if the limiter created it (stopping its sweep timer). */
  close(): void | Promise<void>;
}

/**
 * A {@link RateLimiter} backed by the in-memory store: every answer is
 * synchronous.
 */
export interface SyncRateLimiter extends RateLimiter {
  take(key: string, cost?: number): RateLimitDecision;
  tryTake(key: string, cost?: number): boolean;
  close(): void;
}

/**
 * Creates a token-bucket {@link RateLimiter}. Buckets start full, refill by
 * elapsed monotonic time, and idle ones are dropped.
 *
 * @example
 * ```ts
 * const limiter = createRateLimiter({ rate: 2, burst: 5 });
 * const decision = limiter.take("alice");
 * if (!decision.allowed) console.log(`retry in ${decision.retryAfterMs} ms`);
 * limiter.close();
 * ```
 */
export function createRateLimiter(
  options: RateLimiterOptions & { store?: undefined | MemoryRateLimitStore },
): SyncRateLimiter;
export function createRateLimiter(options: RateLimiterOptions): RateLimiter;
export function createRateLimiter(options: RateLimiterOptions): RateLimiter {
  const where = "createRateLimiter";
  const limit = validateLimit(where, options);
  if (options.store !== undefined) {
    for (const name of ["clock", "maxKeys", "sweepIntervalMs"] as const) {
      if (options[name] !== undefined) {
        throw new RateLimitError(
          "invalid_option",
          `${where}: ${name} configures the default in-memory store; pass it to the store you create instead of to the limiter`,
        );
      }
    }
    return storeLimiter(limit, options.store);
  }
  const store = createMemoryRateLimitStore({
    clock: options.clock,
    maxKeys: options.maxKeys,
    sweepIntervalMs: options.sweepIntervalMs,
  });
  return {
    limit,
    take: (key: string, cost = 1) => store.consume(key, limit, cost),
    tryTake: (key: string, cost = 1) => store.tryConsume(key, limit, cost),
    close: () => store.close(),
  };
}

function storeLimiter(limit: TokenBucketLimit, store: RateLimitStore): RateLimiter {
  const memory = store as Partial<MemoryRateLimitStore>;
  const fast = typeof memory.tryConsume === "function" ? memory.tryConsume.bind(store) : undefined;
  return {
    limit,
    take: (key: string, cost = 1) => store.consume(key, limit, cost),
    tryTake(key: string, cost = 1) {
      if (fast !== undefined) return fast(key, limit, cost);
      const decision = store.consume(key, limit, cost);
      return isPromiseLike(decision) ? Promise.resolve(decision).then(allowedOf) : decision.allowed;
    },
    close: () => undefined,
  };
}

function allowedOf(decision: RateLimitDecision): boolean {
  return decision.allowed;
}
