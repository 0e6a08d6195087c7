import { checkMaxBytes, checkNoNul, checkNotEmpty, checkString } from "./field-checks.js";
import { resolveValidationOptions, type ValidationOptions } from "./validation-options.js";

/**
 * Validates the `registration_id` of an unregistration: non-empty, at most
 * `limits.maxRegistrationIdBytes` UTF-8 bytes (default 128), no NUL byte.
 * The id is otherwise opaque (hosts choose its form).
 *
 * @throws ValidationError with field `registration_id`, e.g.
 * `registration ID must not be empty`.
 */
export function validateRegistrationId(registrationId: string, options?: ValidationOptions): void {
  const { limits } = resolveValidationOptions(options);
  const ref = { field: "registration_id", label: "registration ID" };
  checkString(registrationId, ref);
  checkNotEmpty(registrationId, ref);
  checkMaxBytes(registrationId, limits.maxRegistrationIdBytes, ref);
  checkNoNul(registrationId, ref);
}
