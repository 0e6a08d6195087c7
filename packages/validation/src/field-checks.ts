import { utf8ByteLength } from "./utf8-byte-length.js";
import { ValidationError } from "./validation-error.js";

/**
 * Where a checked value belongs: `field` is the wire name carried by the
 * error (`service_type`), `label` the words that start its message
 * (`service type`).
 *
 * @private
 */
export interface FieldRef {
  readonly field: string;
  readonly label: string;
}

/** ASCII letter, then ASCII letters, digits, `_`, `.`, `-`. */
const IDENTIFIER = /^[A-Za-z][A-Za-z0-9_.-]*$/;

/**
 * Quotes a value for an error message: JSON string syntax, so NUL, control
 * characters and quotes are escaped and cannot forge log lines.
 *
 * @private
 */
export function quote(value: string): string {
  return JSON.stringify(value);
}

/**
 * Throws `empty` when `value` is the empty string.
 *
 * @private
 */
export function checkNotEmpty(value: string, ref: FieldRef): void {
  if (value.length === 0) {
    throw new ValidationError(`${ref.label} must not be empty`, {
      field: ref.field,
      code: "empty",
    });
  }
}

/**
 * Throws `too_long` when `value` has more than `max` UTF-8 bytes.
 *
 * @private
 */
export function checkMaxBytes(value: string, max: number, ref: FieldRef): void {
  // Every UTF-16 code unit is at most 3 UTF-8 bytes: skip counting short strings.
  if (value.length * 3 <= max) {
    return;
  }
  const bytes = utf8ByteLength(value);
  if (bytes > max) {
    throw new ValidationError(`${ref.label} too long: ${bytes} bytes (max: ${max})`, {
      field: ref.field,
      code: "too_long",
      limit: max,
    });
  }
}

/**
 * Throws `forbidden_character` when `value` contains a NUL byte.
 *
 * @private
 */
export function checkNoNul(value: string, ref: FieldRef): void {
  if (value.includes("\u0000")) {
    throw new ValidationError(`${ref.label} contains a NUL byte`, {
      field: ref.field,
      code: "forbidden_character",
    });
  }
}

/**
 * Throws `too_many` when a map or list has more than `max` entries.
 *
 * @private
 */
export function checkMaxEntries(count: number, max: number, ref: FieldRef): void {
  if (count > max) {
    throw new ValidationError(`${ref.label} has too many entries: ${count} (max: ${max})`, {
      field: ref.field,
      code: "too_many",
      limit: max,
    });
  }
}

/**
 * Checks an identifier: non-empty, at most `max` bytes, an ASCII letter then
 * ASCII letters, digits, `_`, `.`, `-`.
 *
 * @private
 */
export function checkIdentifier(value: string, max: number, ref: FieldRef): void {
  checkNotEmpty(value, ref);
  checkMaxBytes(value, max, ref);
  if (!IDENTIFIER.test(value)) {
    throw new ValidationError(
      `${ref.label} ${quote(value)} must start with a letter and contain only letters, digits, "_", ".", "-"`,
      { field: ref.field, code: "invalid_format" },
    );
  }
}

/**
 * Checks a service-type-like identifier: {@link checkIdentifier} and no `..`.
 *
 * @private
 */
export function checkTypeName(value: string, max: number, ref: FieldRef): void {
  checkIdentifier(value, max, ref);
  if (value.includes("..")) {
    throw new ValidationError(`${ref.label} ${quote(value)} must not contain ".."`, {
      field: ref.field,
      code: "invalid_format",
    });
  }
}

/**
 * Checks that `value` is a string; protobuf messages built by hand can carry
 * anything.
 *
 * @private
 */
export function checkString(value: unknown, ref: FieldRef): asserts value is string {
  if (typeof value !== "string") {
    throw new ValidationError(`${ref.label} must be a string`, {
      field: ref.field,
      code: "invalid_format",
    });
  }
}
