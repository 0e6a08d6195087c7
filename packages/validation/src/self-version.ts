import { checkMaxBytes, checkNoNul, checkString } from "./field-checks.js";
import type { ResolvedValidationOptions } from "./validation-options.js";

/**
 * Checks a handshake's `self_version`: may be empty; otherwise at most
 * `limits.maxVersionBytes` UTF-8 bytes (default 64) without NUL bytes. It is
 * informational, so it need not be a semantic version (Go plugins may send
 * `dev`).
 *
 * @throws ValidationError with field `self_version`, e.g.
 * `self version too long: 65 bytes (max: 64)`.
 * @private
 */
export function checkSelfVersion(selfVersion: string, { limits }: ResolvedValidationOptions): void {
  const ref = { field: "self_version", label: "self version" };
  checkString(selfVersion, ref);
  checkMaxBytes(selfVersion, limits.maxVersionBytes, ref);
  checkNoNul(selfVersion, ref);
}
