/**
 * The answer of a token bucket to one request for tokens.
 */
export interface RateLimitDecision {
  /** Whether the tokens were granted (and taken from the bucket). */
  readonly allowed: boolean;
  /** Whole tokens left in the bucket after this decision. */
  readonly remaining: number;
  /**
   * Milliseconds until the same request would be allowed, rounded up; `0`
   * when it was allowed.
   */
  readonly retryAfterMs: number;
}
