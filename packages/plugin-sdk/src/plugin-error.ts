const brand = Symbol.for("@cpg/plugin-sdk/PluginError");

/**
 * The closed set of {@link PluginError} codes.
 *
 * - `invalid_config`: a plugin option is wrong; the message says what to change.
 * - `not_joined`: the operation needs a runtime identity from a host.
 * - `join_failed`: the host refused or could not be reached; `cause` has the `ConnectError`.
 * - `closed`: the plugin has been closed.
 */
export type PluginErrorCode = "invalid_config" | "not_joined" | "join_failed" | "closed";

/**
 * An in-process failure of the plugin SDK. Calls on the wire fail with
 * `ConnectError` instead.
 */
export class PluginError extends Error {
  /** What went wrong, from a closed set. */
  readonly code: PluginErrorCode;
  override name = "PluginError";

  constructor(code: PluginErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    Object.defineProperty(this, brand, { value: true });
  }
}

/**
 * Tells whether a value is a {@link PluginError}, also across two copies of
 * this package.
 */
export function isPluginError(value: unknown): value is PluginError {
  return (
    typeof value === "object" &&
    value !== null &&
    (value as Record<symbol, unknown>)[brand] === true
  );
}
