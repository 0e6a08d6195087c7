import { compare } from "semver";
import type { ValidationOptions } from "./validation-options.js";
import { validateVersion } from "./version.js";

/**
 * Compares two versions by Semantic Versioning precedence: `-1` when `a` is
 * lower, `0` when equal, `1` when higher. Numeric parts compare as numbers
 * (`10.0.0` > `9.0.0`) and a prerelease is lower than its release
 * (`1.0.0-beta` < `1.0.0`). Usable as an `Array.prototype.sort` comparator.
 *
 * @throws ValidationError (field `version`) when either is not a valid version.
 *
 * @example
 * ```ts
 * ["1.0.0", "10.0.0", "9.0.0"].sort(compareVersions); // ["1.0.0", "9.0.0", "10.0.0"]
 * ```
 */
export function compareVersions(a: string, b: string, options?: ValidationOptions): -1 | 0 | 1 {
  validateVersion(a, options);
  validateVersion(b, options);
  return compare(a, b);
}
