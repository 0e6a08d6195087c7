import { checkString } from "./field-checks.js";
import { resolveValidationOptions, type ValidationOptions } from "./validation-options.js";
import { checkVersion } from "./version.js";

/**
 * Validates a `min_version` (discovery, capability request): empty (any
 * version) or a version as {@link validateVersion} accepts it, at most
 * `limits.maxVersionBytes` UTF-8 bytes (default 64).
 *
 * @throws ValidationError with field `min_version`, e.g.
 * `min version "1.0" must be semantic (MAJOR.MINOR.PATCH[-prerelease]) without a "v" prefix`.
 */
export function validateMinVersion(minVersion: string, options?: ValidationOptions): void {
  const { limits } = resolveValidationOptions(options);
  const ref = { field: "min_version", label: "min version" };
  checkString(minVersion, ref);
  if (minVersion !== "") {
    checkVersion(minVersion, limits.maxVersionBytes, ref);
  }
}
