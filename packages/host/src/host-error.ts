const brand = Symbol.for("@cpg/host/HostError");

/**
 * The closed set of {@link HostError} codes.
 *
 * - `invalid_config`: an option or config file value is wrong; the message says what to change.
 * - `insecure_config`: the security profile refuses the configuration (e.g. plaintext in production).
 * - `not_listening`: an operation needs a listening host.
 * - `already_listening`: `listen()` was called twice.
 * - `closed`: the host has been closed.
 * - `launch_failed`: a managed plugin could not be started or did not become ready.
 * - `unknown_plugin`: no managed plugin has that name.
 * - `duplicate_plugin`: a managed plugin with that name exists already.
 * - `in_use`: other plugins depend on the one to remove.
 * - `store_unavailable`: the shared state store (Redis) could not be reached at start.
 */
export type HostErrorCode =
  | "invalid_config"
  | "insecure_config"
  | "not_listening"
  | "already_listening"
  | "closed"
  | "launch_failed"
  | "unknown_plugin"
  | "duplicate_plugin"
  | "in_use"
  | "store_unavailable";

/**
 * An in-process failure of the cpg host (configuration and lifecycle).
 * Failures of calls on the wire are always `ConnectError`s instead.
 */
export class HostError extends Error {
  /** What went wrong, from a closed set. */
  readonly code: HostErrorCode;
  override name = "HostError";

  constructor(code: HostErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    Object.defineProperty(this, brand, { value: true });
  }
}

/**
 * Tells whether a value is a {@link HostError}, also across two copies of
 * this package.
 */
export function isHostError(value: unknown): value is HostError {
  return (
    typeof value === "object" &&
    value !== null &&
    (value as Record<symbol, unknown>)[brand] === true
  );
}
