import { checkMaxBytes, checkNoNul, checkString } from "./field-checks.js";
import { resolveValidationOptions, type ValidationOptions } from "./validation-options.js";

/**
 * Validates the free-text reason of a health report: may be empty, at most
 * `limits.maxHealthReasonBytes` UTF-8 bytes (default 1024), no NUL byte.
 *
 * @throws ValidationError with field `reason`, e.g.
 * `health reason too long: 2000 bytes (max: 1024)`.
 */
export function validateHealthReason(reason: string, options?: ValidationOptions): void {
  const { limits } = resolveValidationOptions(options);
  const ref = { field: "reason", label: "health reason" };
  checkString(reason, ref);
  checkMaxBytes(reason, limits.maxHealthReasonBytes, ref);
  checkNoNul(reason, ref);
}
