import type { Clock } from "./clock.js";
import { RateLimitError } from "./rate-limit-error.js";

/**
 * A {@link Clock} that only moves when told to, for exact tests of bucket
 * arithmetic.
 */
export interface ManualClock extends Clock {
  /** Moves time forward by `ms` milliseconds (must be `>= 0`). */
  advance(ms: number): void;
}

/**
 * Creates a {@link ManualClock} starting at `startMs` (default `0`).
 *
 * @example
 * ```ts
 * const clock = createManualClock();
 * const limiter = createRateLimiter({ rate: 1, burst: 1, clock });
 * limiter.take("k"); // allowed
 * clock.advance(1000); // one token back
 * ```
 */
export function createManualClock(startMs = 0): ManualClock {
  let now = startMs;
  return {
    now: () => now,
    advance(ms: number): void {
      if (!(ms >= 0) || !Number.isFinite(ms)) {
        throw new RateLimitError(
          "invalid_argument",
          `ManualClock.advance: ms must be a finite number >= 0, got ${ms}`,
        );
      }
      now += ms;
    },
  };
}
