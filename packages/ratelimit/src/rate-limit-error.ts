const brand = Symbol.for("@cpg/ratelimit/RateLimitError");

/**
 * The closed set of {@link RateLimitError} codes:
 *
 * - `"invalid_option"`: a factory was given a configuration it cannot use
 *   (thrown at construction; the message says which option to change).
 * - `"invalid_argument"`: a call was given an argument it cannot use, e.g. a
 *   `cost` that is not positive or larger than the bucket's `burst`.
 * - `"store_unavailable"`: a shared store (Redis) failed or could not be
 *   reached and the store is configured to fail closed. `cause` holds the
 *   underlying error.
 * - `"store_timeout"`: a shared store did not answer within its command
 *   timeout and the store is configured to fail closed.
 */
export type RateLimitErrorCode =
  | "invalid_option"
  | "invalid_argument"
  | "store_unavailable"
  | "store_timeout";

/**
 * The error class of `@cpg/ratelimit` for in-process failures. On the wire the
 * interceptor never sends it: rejections become a `ConnectError` with
 * `Code.ResourceExhausted` (limit reached) or `Code.Unavailable` (store down,
 * fail closed).
 *
 * Use {@link isRateLimitError} rather than `instanceof` when two copies of the
 * package may be loaded.
 */
export class RateLimitError extends Error {
  /** What went wrong; one of {@link RateLimitErrorCode}. */
  readonly code: RateLimitErrorCode;

  /** Always `true`; lets {@link isRateLimitError} recognise copies of this class. */
  readonly [brand] = true;

  constructor(code: RateLimitErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "RateLimitError";
    this.code = code;
  }
}

/**
 * Reports whether `value` is a {@link RateLimitError}, also when it was created
 * by another copy of this package (it checks a `Symbol.for` brand, not the
 * prototype chain).
 */
export function isRateLimitError(value: unknown): value is RateLimitError {
  return (
    typeof value === "object" && value !== null && (value as { [brand]?: unknown })[brand] === true
  );
}
