import { Code, ConnectError } from "@connectrpc/connect";

/**
 * Why an {@link AuthError} was thrown. The set is closed:
 *
 * - `"invalid_options"`: a factory got an invalid configuration (thrown at
 *   construction, the message says what to change). On the wire: `internal`.
 * - `"invalid_credentials"`: a presented credential was rejected. Authenticators
 *   throw it; the auth interceptor answers `unauthenticated`.
 * - `"random_source_failed"`: the CSPRNG failed; no token was made. `internal`.
 * - `"store_full"`: a token store reached `maxEntries`. `resource_exhausted`.
 * - `"already_exists"`: a token store already holds a live entry for that id.
 *   `already_exists`.
 * - `"store_closed"`: the token store was closed. `unavailable`.
 */
export type AuthErrorCode =
  | "invalid_options"
  | "invalid_credentials"
  | "random_source_failed"
  | "store_full"
  | "already_exists"
  | "store_closed";

const connectCodes: Record<AuthErrorCode, Code> = {
  invalid_options: Code.Internal,
  invalid_credentials: Code.Unauthenticated,
  random_source_failed: Code.Internal,
  store_full: Code.ResourceExhausted,
  already_exists: Code.AlreadyExists,
  store_closed: Code.Unavailable,
};

const brand = Symbol.for("@cpg/auth/AuthError");

/**
 * The in-process error of `@cpg/auth`. `code` says what went wrong (see
 * {@link AuthErrorCode}); `cause` keeps the underlying error. Use
 * {@link isAuthError} rather than `instanceof` to recognise it: the guard also
 * works when two copies of this package are loaded.
 *
 * @example
 * ```ts
 * try {
 *   store.issue(runtimeId, info);
 * } catch (error) {
 *   if (isAuthError(error, "store_full")) throw authErrorToConnectError(error);
 *   throw error;
 * }
 * ```
 */
export class AuthError extends Error {
  override name = "AuthError";
  /** What went wrong. */
  readonly code: AuthErrorCode;

  constructor(code: AuthErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    Object.defineProperty(this, brand, { value: true });
  }
}

/**
 * Tells whether `value` is an {@link AuthError} (from any copy of this
 * package), optionally with the given `code`.
 */
export function isAuthError(value: unknown, code?: AuthErrorCode): value is AuthError {
  if (typeof value !== "object" || value === null || !(brand in value)) {
    return false;
  }
  return code === undefined || (value as { code?: unknown }).code === code;
}

/**
 * Converts an error into the `ConnectError` to send on the wire: an
 * {@link AuthError} gets the `Code` documented for its `code` (for example
 * `random_source_failed` -> `internal`, `store_full` -> `resource_exhausted`)
 * and is kept as `cause`; a `ConnectError` is returned as is; anything else
 * goes through `ConnectError.from` with `internal` (keeping its message).
 */
export function authErrorToConnectError(error: unknown): ConnectError {
  if (isAuthError(error)) {
    return new ConnectError(error.message, connectCodes[error.code], undefined, undefined, error);
  }
  return ConnectError.from(error, Code.Internal);
}
