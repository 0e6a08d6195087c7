import { Code, ConnectError } from "@connectrpc/connect";

/**
 * The `retry-after` value (whole seconds, rounded up, at least 1) for a wait
 * of `retryAfterMs` milliseconds.
 *
 * @private
 */
export function retryAfterSeconds(retryAfterMs: number): string {
  return String(Math.max(1, Math.ceil(retryAfterMs / 1000)));
}

/**
 * The `ResourceExhausted` error for a call over its rate limit, with the wait
 * in its message and a `retry-after` header in its metadata.
 *
 * @private
 */
export function rateLimitExceeded(procedure: string, retryAfterMs: number): ConnectError {
  return new ConnectError(
    `rate limit exceeded for ${procedure}; retry after ${retryAfterMs} ms`,
    Code.ResourceExhausted,
    { "retry-after": retryAfterSeconds(retryAfterMs) },
  );
}

/**
 * The `ResourceExhausted` error for a stream over its concurrency limit.
 *
 * @private
 */
export function tooManyStreams(procedure: string, max: number, retryAfterMs: number): ConnectError {
  return new ConnectError(
    `concurrent stream limit (${max}) exceeded for ${procedure}; retry after ${retryAfterMs} ms`,
    Code.ResourceExhausted,
    { "retry-after": retryAfterSeconds(retryAfterMs) },
  );
}

/**
 * The `Unavailable` error for a call that could not be checked because the
 * store failed and fails closed. The store's error is kept as `cause`.
 *
 * @private
 */
export function storeUnavailable(procedure: string, cause: unknown): ConnectError {
  return new ConnectError(
    `rate limit store unavailable; ${procedure} rejected`,
    Code.Unavailable,
    undefined,
    undefined,
    cause,
  );
}
