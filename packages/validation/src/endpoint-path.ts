import { checkMaxBytes, checkNoNul, checkNotEmpty, checkString } from "./field-checks.js";
import { ValidationError } from "./validation-error.js";
import { resolveValidationOptions, type ValidationOptions } from "./validation-options.js";

/**
 * Validates a registration's endpoint path (e.g. `/logger.v1.Logger/`):
 * non-empty, starting with `/`, at most `limits.maxEndpointPathBytes` UTF-8
 * bytes (default 256), no NUL byte.
 *
 * @throws ValidationError with field `endpoint_path`, e.g.
 * `endpoint path must start with "/"`.
 */
export function validateEndpointPath(endpointPath: string, options?: ValidationOptions): void {
  const { limits } = resolveValidationOptions(options);
  const ref = { field: "endpoint_path", label: "endpoint path" };
  checkString(endpointPath, ref);
  checkNotEmpty(endpointPath, ref);
  if (!endpointPath.startsWith("/")) {
    throw new ValidationError(`${ref.label} must start with "/"`, {
      field: ref.field,
      code: "invalid_format",
    });
  }
  checkMaxBytes(endpointPath, limits.maxEndpointPathBytes, ref);
  checkNoNul(endpointPath, ref);
}
