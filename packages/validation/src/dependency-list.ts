import { checkMaxEntries, checkString, checkTypeName } from "./field-checks.js";
import { ValidationError } from "./validation-error.js";
import { resolveValidationOptions, type ValidationOptions } from "./validation-options.js";

/**
 * Validates a list of dependencies (a health report's
 * `unavailable_dependencies`): at most `limits.maxDependencies` entries
 * (default 100), each a valid service type (see {@link validateServiceType};
 * at most `limits.maxServiceTypeBytes` bytes, default 128).
 *
 * @throws ValidationError with field `unavailable_dependencies`, e.g.
 * `dependency list has too many entries: 101 (max: 100)` or
 * `dependency "a..b" must not contain ".."`.
 */
export function validateDependencyList(
  dependencies: readonly string[],
  options?: ValidationOptions,
): void {
  const { limits } = resolveValidationOptions(options);
  const field = "unavailable_dependencies";
  if (!Array.isArray(dependencies)) {
    throw new ValidationError("dependency list must be a list of strings", {
      field,
      code: "invalid_format",
    });
  }
  checkMaxEntries(dependencies.length, limits.maxDependencies, { field, label: "dependency list" });
  const ref = { field, label: "dependency" };
  for (const dependency of dependencies) {
    checkString(dependency, ref);
    checkTypeName(dependency, limits.maxServiceTypeBytes, ref);
  }
}
