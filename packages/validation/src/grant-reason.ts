import { checkMaxBytes, checkNoNul, checkString } from "./field-checks.js";
import { resolveValidationOptions, type ValidationOptions } from "./validation-options.js";

/**
 * Validates the free-text reason of a capability request (why the plugin
 * wants the grant): may be empty, at most `limits.maxGrantReasonBytes` UTF-8
 * bytes (default 1024), no NUL byte.
 *
 * @throws ValidationError with field `reason`, e.g.
 * `grant reason too long: 2000 bytes (max: 1024)`.
 */
export function validateGrantReason(reason: string, options?: ValidationOptions): void {
  const { limits } = resolveValidationOptions(options);
  const ref = { field: "reason", label: "grant reason" };
  checkString(reason, ref);
  checkMaxBytes(reason, limits.maxGrantReasonBytes, ref);
  checkNoNul(reason, ref);
}
