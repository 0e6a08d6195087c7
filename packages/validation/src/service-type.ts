import { checkString, checkTypeName } from "./field-checks.js";
import { resolveValidationOptions, type ValidationOptions } from "./validation-options.js";

/**
 * Validates a service type (registration, discovery, watch): non-empty, at
 * most `limits.maxServiceTypeBytes` UTF-8 bytes (default 128), starting with
 * an ASCII letter followed by ASCII letters, digits, `_`, `.`, `-`, and
 * without `..`.
 *
 * @throws ValidationError with field `service_type`, e.g.
 * `service type too long: 130 bytes (max: 128)`.
 *
 * @example
 * ```ts
 * validateServiceType("kv.v1"); // ok
 * validateServiceType("../etc"); // throws: service type "../etc" must start with a letter ...
 * ```
 */
export function validateServiceType(serviceType: string, options?: ValidationOptions): void {
  const { limits } = resolveValidationOptions(options);
  const ref = { field: "service_type", label: "service type" };
  checkString(serviceType, ref);
  checkTypeName(serviceType, limits.maxServiceTypeBytes, ref);
}
