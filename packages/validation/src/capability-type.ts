import { checkString, checkTypeName } from "./field-checks.js";
import { resolveValidationOptions, type ValidationOptions } from "./validation-options.js";

/**
 * Validates the capability type of a capability request, with the rules of a
 * service type: non-empty, at most `limits.maxCapabilityTypeBytes` UTF-8
 * bytes (default 128), identifier pattern, no `..`.
 *
 * @throws ValidationError with field `capability_type`, e.g.
 * `capability type must not be empty`.
 */
export function validateCapabilityType(capabilityType: string, options?: ValidationOptions): void {
  const { limits } = resolveValidationOptions(options);
  const ref = { field: "capability_type", label: "capability type" };
  checkString(capabilityType, ref);
  checkTypeName(capabilityType, limits.maxCapabilityTypeBytes, ref);
}
