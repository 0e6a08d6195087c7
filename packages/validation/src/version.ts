import { valid } from "semver";
import { checkMaxBytes, checkNotEmpty, checkString, type FieldRef, quote } from "./field-checks.js";
import { ValidationError } from "./validation-error.js";
import { resolveValidationOptions, type ValidationOptions } from "./validation-options.js";

const NUMBER = "(?:0|[1-9][0-9]*)";
const PRERELEASE_ID = "(?:0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)";
/** Semantic Versioning 2.0.0 without build metadata. */
const STRICT_VERSION = new RegExp(
  `^${NUMBER}\\.${NUMBER}\\.${NUMBER}(?:-${PRERELEASE_ID}(?:\\.${PRERELEASE_ID})*)?$`,
);

/**
 * Checks a strict `MAJOR.MINOR.PATCH[-prerelease]` version.
 *
 * @private
 */
export function checkVersion(value: string, max: number, ref: FieldRef): void {
  checkNotEmpty(value, ref);
  checkMaxBytes(value, max, ref);
  // The semver library also rejects numbers beyond Number.MAX_SAFE_INTEGER.
  if (!STRICT_VERSION.test(value) || valid(value) === null) {
    throw new ValidationError(
      `${ref.label} ${quote(value)} must be semantic (MAJOR.MINOR.PATCH[-prerelease]) without a "v" prefix`,
      { field: ref.field, code: "invalid_format" },
    );
  }
}

/**
 * Validates a version (registration `version`): non-empty, at most
 * `limits.maxVersionBytes` UTF-8 bytes (default 64), Semantic Versioning
 * 2.0.0 `MAJOR.MINOR.PATCH` with an optional `-prerelease`, no `v` prefix, no
 * `+build` metadata, no leading zeros (`1.0.0`, `2.1.3-beta`, `3.0.0-rc.1`).
 *
 * Stricter than connect-plugin-go, which also accepts leading zeros
 * (`01.0.0`) and empty prerelease identifiers (`1.0.0-a..b`): such versions
 * cannot be compared by semantic-version precedence.
 *
 * @throws ValidationError with field `version`, e.g.
 * `version "v1.0.0" must be semantic (MAJOR.MINOR.PATCH[-prerelease]) without a "v" prefix`.
 */
export function validateVersion(version: string, options?: ValidationOptions): void {
  const { limits } = resolveValidationOptions(options);
  const ref = { field: "version", label: "version" };
  checkString(version, ref);
  checkVersion(version, limits.maxVersionBytes, ref);
}
