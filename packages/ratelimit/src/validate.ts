import { RateLimitError } from "./rate-limit-error.js";
import type { TokenBucketLimit } from "./rate-limit-store.js";

/**
 * Checks a token-bucket configuration and returns a fresh copy of it.
 * `where` names the option in messages, e.g. `createRateLimiter`.
 *
 * @private
 */
export function validateLimit(where: string, limit: TokenBucketLimit): TokenBucketLimit {
  const { rate, burst } = limit;
  if (typeof rate !== "number" || !Number.isFinite(rate) || rate <= 0) {
    throw new RateLimitError(
      "invalid_option",
      `${where}: rate must be a finite number of tokens per second > 0, got ${String(rate)}`,
    );
  }
  if (typeof burst !== "number" || !Number.isFinite(burst) || burst < 1) {
    throw new RateLimitError(
      "invalid_option",
      `${where}: burst must be a finite number >= 1 (the bucket capacity), got ${String(burst)}`,
    );
  }
  return { rate, burst };
}

/**
 * Checks that `value` is a positive integer (or `Infinity` when `allowInfinity`).
 *
 * @private
 */
export function validateCount(
  where: string,
  name: string,
  value: number,
  allowInfinity = false,
): number {
  const ok =
    typeof value === "number" &&
    value >= 1 &&
    (Number.isInteger(value) || (allowInfinity && value === Number.POSITIVE_INFINITY));
  if (!ok) {
    throw new RateLimitError(
      "invalid_option",
      `${where}: ${name} must be an integer >= 1${allowInfinity ? " or Infinity" : ""}, got ${String(value)}`,
    );
  }
  return value;
}

/**
 * The error for a `cost` outside `(0, burst]`.
 *
 * @private
 */
export function invalidCost(cost: number, burst: number): RateLimitError {
  return new RateLimitError(
    "invalid_argument",
    `cost must be a number > 0 and <= burst (${burst}), got ${String(cost)}`,
  );
}
