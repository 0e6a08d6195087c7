import { gte } from "semver";
import { validateMinVersion } from "./min-version.js";
import type { ValidationOptions } from "./validation-options.js";
import { validateVersion } from "./version.js";

/**
 * Whether `version` meets `minVersion`: an empty `minVersion` accepts any
 * version; otherwise `version` must be equal or higher by Semantic Versioning
 * precedence. So `10.0.0` satisfies `9.0.0`, `1.0.0-beta` does not satisfy
 * `1.0.0`, and `1.1.0-beta` satisfies `1.0.0`.
 *
 * @throws ValidationError when `version` (field `version`) or `minVersion`
 * (field `min_version`) is malformed.
 *
 * @example
 * ```ts
 * satisfiesMinVersion("10.0.0", "9.0.0"); // true
 * satisfiesMinVersion("1.0.0-beta", "1.0.0"); // false
 * satisfiesMinVersion("0.1.0", ""); // true
 * ```
 */
export function satisfiesMinVersion(
  version: string,
  minVersion: string,
  options?: ValidationOptions,
): boolean {
  validateVersion(version, options);
  validateMinVersion(minVersion, options);
  return minVersion === "" || gte(version, minVersion);
}
