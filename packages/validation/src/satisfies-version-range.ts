import { satisfies, validRange } from "semver";
import { checkMaxBytes, checkNoNul, checkString, quote } from "./field-checks.js";
import { ValidationError } from "./validation-error.js";
import { resolveValidationOptions, type ValidationOptions } from "./validation-options.js";
import { validateVersion } from "./version.js";

/**
 * Whether `version` is in a semver `range` (npm syntax: `>=1.2.0 <2.0.0`,
 * `^1.2.0`, `~1.2`, `1.x || 2.x`). An empty range accepts any release. As in
 * npm, a prerelease only satisfies a range that names a prerelease of the
 * same `MAJOR.MINOR.PATCH`: `1.3.0-beta` is not in `^1.0.0`.
 *
 * @throws ValidationError when `version` is malformed (field `version`) or
 * `range` is not a valid range or longer than `limits.maxVersionRangeBytes`
 * (default 256; field `version_range`).
 *
 * @example
 * ```ts
 * satisfiesVersionRange("1.4.2", "^1.2.0"); // true
 * satisfiesVersionRange("2.0.0", ">=1.0.0 <2.0.0"); // false
 * ```
 */
export function satisfiesVersionRange(
  version: string,
  range: string,
  options?: ValidationOptions,
): boolean {
  const resolved = resolveValidationOptions(options);
  validateVersion(version, resolved);
  const ref = { field: "version_range", label: "version range" };
  checkString(range, ref);
  checkMaxBytes(range, resolved.limits.maxVersionRangeBytes, ref);
  checkNoNul(range, ref);
  if (validRange(range) === null) {
    throw new ValidationError(`${ref.label} ${quote(range)} is not a valid semver range`, {
      field: ref.field,
      code: "invalid_format",
    });
  }
  return satisfies(version, range);
}
