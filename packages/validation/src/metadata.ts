import {
  checkIdentifier,
  checkMaxBytes,
  checkMaxEntries,
  checkNoNul,
  checkString,
  quote,
} from "./field-checks.js";
import { ValidationError } from "./validation-error.js";
import {
  type ResolvedValidationOptions,
  resolveValidationOptions,
  type ValidationOptions,
} from "./validation-options.js";

/**
 * Validates a registration's `metadata` map: at most
 * `limits.maxMetadataEntries` entries (default 100); each key non-empty, at
 * most `limits.maxMetadataKeyBytes` UTF-8 bytes (default 256), starting with
 * an ASCII letter followed by ASCII letters, digits, `_`, `.`, `-`; each
 * value at most `limits.maxMetadataValueBytes` bytes (default 4096) without
 * NUL bytes. Entries are checked in key order of the object.
 *
 * The `base_url` entry is not checked as a URL here; {@link validateMessage}
 * does that for registrations (see {@link validateBaseUrl}).
 *
 * @throws ValidationError with field `metadata`, `metadata.key` or
 * `metadata.value`, e.g. `metadata key too long: 300 bytes (max: 256)`.
 */
export function validateMetadata(
  metadata: Readonly<Record<string, string>>,
  options?: ValidationOptions,
): void {
  checkMetadataMap(metadata, "metadata", "metadata", resolveValidationOptions(options));
}

/**
 * Validates a handshake's `client_metadata` map with the rules of
 * {@link validateMetadata} and the same limits.
 *
 * @throws ValidationError with field `client_metadata`, `client_metadata.key`
 * or `client_metadata.value`, e.g.
 * `client metadata value for "k" contains a NUL byte`.
 */
export function validateClientMetadata(
  clientMetadata: Readonly<Record<string, string>>,
  options?: ValidationOptions,
): void {
  checkMetadataMap(
    clientMetadata,
    "client_metadata",
    "client metadata",
    resolveValidationOptions(options),
  );
}

function checkMetadataMap(
  metadata: Readonly<Record<string, string>>,
  field: string,
  label: string,
  { limits }: ResolvedValidationOptions,
): void {
  if (typeof metadata !== "object" || metadata === null) {
    throw new ValidationError(`${label} must be a map of strings`, {
      field,
      code: "invalid_format",
    });
  }
  const keys = Object.keys(metadata);
  checkMaxEntries(keys.length, limits.maxMetadataEntries, { field, label });
  const keyRef = { field: `${field}.key`, label: `${label} key` };
  for (const key of keys) {
    checkIdentifier(key, limits.maxMetadataKeyBytes, keyRef);
    const value = metadata[key];
    const valueRef = { field: `${field}.value`, label: `${label} value for ${quote(key)}` };
    checkString(value, valueRef);
    checkMaxBytes(value, limits.maxMetadataValueBytes, valueRef);
    checkNoNul(value, valueRef);
  }
}
