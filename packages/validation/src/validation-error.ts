import { Code, ConnectError } from "@connectrpc/connect";

/**
 * Why a value was rejected. The set is closed; new codes only come with a
 * minor release and a changeset.
 *
 * - `empty`: a required value is empty.
 * - `too_long`: a value is longer than its limit, in UTF-8 bytes.
 * - `too_many`: a map or list has more entries than its limit.
 * - `invalid_format`: a value does not have the required syntax (identifier
 *   pattern, `..` in a service type, semantic version, absolute URL, leading
 *   `/` of a path, ...).
 * - `forbidden_character`: a value contains a character that is never
 *   allowed there (a NUL byte, or whitespace and control characters in a URL).
 * - `not_allowed`: a well-formed value that configuration forbids (a base URL
 *   host outside the allow-list).
 * - `unknown_value`: an enum number that the protocol does not define.
 */
export type ValidationErrorCode =
  | "empty"
  | "too_long"
  | "too_many"
  | "invalid_format"
  | "forbidden_character"
  | "not_allowed"
  | "unknown_value";

/**
 * Brand shared by every copy of this package, so that {@link isValidationError}
 * recognises errors thrown by another copy (where `instanceof` fails).
 */
const brand: unique symbol = Symbol.for("@cpg/validation/ValidationError") as never;

/**
 * Options of the {@link ValidationError} constructor.
 */
export interface ValidationErrorInit {
  /** The rejected field in wire (snake_case) form, e.g. `"service_type"` or `"metadata.key"`. */
  readonly field: string;
  /** Why the value was rejected. */
  readonly code: ValidationErrorCode;
  /** The limit that was exceeded, for `too_long` and `too_many`. Default: none. */
  readonly limit?: number;
  /** The underlying error, if any. Default: none. */
  readonly cause?: unknown;
}

/**
 * The error thrown by every validator of this package: a rejected input,
 * with the field it belongs to, a machine-readable {@link ValidationErrorCode}
 * and, where there is one, the limit.
 *
 * The message names the field and the problem, and the limit where there is
 * one, e.g. `metadata key too long: 300 bytes (max: 256)`. Use
 * {@link isValidationError} rather than `instanceof` to recognise it, and
 * {@link ValidationError.toConnectError} to send it over the wire.
 *
 * @example
 * ```ts
 * try {
 *   validateServiceType("1abc");
 * } catch (e) {
 *   if (isValidationError(e)) console.log(e.field, e.code); // service_type invalid_format
 * }
 * ```
 */
export class ValidationError extends Error {
  override name = "ValidationError";
  /** The rejected field in wire (snake_case) form, e.g. `"service_type"` or `"metadata.key"`. */
  readonly field: string;
  /** Why the value was rejected. */
  readonly code: ValidationErrorCode;
  /** The limit that was exceeded, for `too_long` and `too_many`; otherwise `undefined`. */
  readonly limit: number | undefined;
  /** @private Brand checked by {@link isValidationError}. */
  readonly [brand] = true;

  constructor(message: string, init: ValidationErrorInit) {
    super(message, init.cause === undefined ? undefined : { cause: init.cause });
    this.field = init.field;
    this.code = init.code;
    this.limit = init.limit;
  }

  /**
   * Converts this error into the `ConnectError` a server sends: code
   * `invalid_argument`, the same message, and this error as `cause`.
   */
  toConnectError(): ConnectError {
    return validationErrorToConnectError(this);
  }
}

/**
 * Type guard for {@link ValidationError}. Works across two copies of this
 * package (it checks a `Symbol.for` brand, not `instanceof`).
 */
export function isValidationError(value: unknown): value is ValidationError {
  return (
    typeof value === "object" && value !== null && (value as { [brand]?: unknown })[brand] === true
  );
}

/**
 * Builds the wire error for a validation error, also for one thrown by another
 * copy of this package.
 */
export function validationErrorToConnectError(error: ValidationError): ConnectError {
  return new ConnectError(error.message, Code.InvalidArgument, undefined, undefined, error);
}
