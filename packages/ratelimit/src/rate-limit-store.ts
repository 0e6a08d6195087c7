import type { RateLimitDecision } from "./rate-limit-decision.js";

/**
 * The parameters of one token bucket: it holds at most `burst` tokens,
 * starts full and refills continuously at `rate` tokens per second.
 */
export interface TokenBucketLimit {
  /** Tokens added per second; a finite number `> 0`. */
  readonly rate: number;
  /** Bucket capacity, the largest number of tokens taken at once; a finite number `>= 1`. */
  readonly burst: number;
}

/**
 * Where token buckets live. `@cpg/ratelimit` ships an in-memory store
 * ({@link createMemoryRateLimitStore}, the default) and a Redis store
 * (`createRedisRateLimitStore` from `@cpg/ratelimit/redis`) that lets several
 * host replicas share one budget.
 *
 * `consume` may answer synchronously: callers await only when they get a
 * promise, so the in-memory path allocates no promise per decision.
 */
export interface RateLimitStore {
  /**
   * Takes `cost` tokens from the bucket `key` (created full with `limit` when
   * absent) if it holds that many, and reports the decision. A denied request
   * takes nothing. Throws or rejects with a `RateLimitError` when the store
   * cannot decide (for example Redis unreachable in fail-closed mode).
   */
  consume(
    key: string,
    limit: TokenBucketLimit,
    cost: number,
  ): RateLimitDecision | Promise<RateLimitDecision>;
  /** Releases timers and connections owned by the store. Idempotent. */
  close(): void | Promise<void>;
}
