// fast-check arbitraries shared by the property tests. Not part of the package.
import fc from "fast-check";
import { isValidationError, type ValidationError } from "./validation-error.js";

/** Property runs per validator, as the issue asks. */
export const RUNS = { numRuns: 1000 } as const;

const LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
const IDENTIFIER_TAIL = `${LETTERS}0123456789_.-`;

/** Cyrillic and Greek letters that look like ASCII ones. */
export const LOOKALIKES = ["а", "е", "о", "р", "с", "х", "у", "Α", "Ο", "ı"];

function charsOf(chars: string) {
  return fc.constantFrom(...chars.split(""));
}

/** A valid identifier of 1..maxLength ASCII characters. */
export function identifier(maxLength: number): fc.Arbitrary<string> {
  return fc
    .tuple(
      charsOf(LETTERS),
      fc.string({ unit: charsOf(IDENTIFIER_TAIL), maxLength: maxLength - 1 }),
    )
    .map(([first, rest]) => first + rest);
}

/** A valid service type: an identifier without `..`. */
export function typeName(maxLength: number): fc.Arbitrary<string> {
  return identifier(maxLength).map((value) => value.replace(/\.{2,}/g, "."));
}

/** An identifier longer than `max` characters (so more than `max` bytes). */
export function overlongIdentifier(max: number): fc.Arbitrary<string> {
  return fc
    .tuple(
      charsOf(LETTERS),
      fc.string({ unit: charsOf(LETTERS), minLength: max, maxLength: max + 300 }),
    )
    .map(([first, rest]) => first + rest);
}

/** Inserts `insert` into `value` at a generated position in [min, length]. */
export function withInsertion(
  value: fc.Arbitrary<string>,
  insert: fc.Arbitrary<string>,
  minPosition = 0,
): fc.Arbitrary<string> {
  return fc
    .tuple(value, insert, fc.nat())
    .filter(([v]) => v.length >= minPosition)
    .map(([v, text, n]) => {
      const at = minPosition + (n % (v.length - minPosition + 1));
      return v.slice(0, at) + text + v.slice(at);
    });
}

/** Replaces one character of `value` by a non-ASCII look-alike. */
export function withLookalike(value: fc.Arbitrary<string>): fc.Arbitrary<string> {
  return fc.tuple(value, fc.constantFrom(...LOOKALIKES), fc.nat()).map(([v, lookalike, n]) => {
    const at = n % v.length;
    return v.slice(0, at) + lookalike + v.slice(at + 1);
  });
}

const NUMBER = fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 99_999 }));
const PRERELEASE_ID = fc.oneof(
  NUMBER.map(String),
  fc
    .tuple(
      fc.string({ unit: charsOf("0123456789"), maxLength: 3 }),
      charsOf(`${LETTERS}-`),
      fc.string({ unit: charsOf(`${LETTERS}0123456789-`), maxLength: 6 }),
    )
    .map(([a, b, c]) => a + b + c),
);

/** A strict semantic version `MAJOR.MINOR.PATCH[-prerelease]` of at most 64 bytes. */
export const version: fc.Arbitrary<string> = fc
  .tuple(NUMBER, NUMBER, NUMBER, fc.option(fc.array(PRERELEASE_ID, { minLength: 1, maxLength: 4 })))
  .map(
    ([major, minor, patch, pre]) =>
      `${major}.${minor}.${patch}${pre === null ? "" : `-${pre.join(".")}`}`,
  )
  .filter((v) => v.length <= 64);

/** A string without NUL of up to `maxLength` code points, any Unicode. */
export function textWithoutNul(maxLength: number): fc.Arbitrary<string> {
  return fc
    .string({ unit: "grapheme", maxLength })
    .map((s) => s.replaceAll("\u0000", ""))
    .filter((s) => new TextEncoder().encode(s).length <= maxLength);
}

/** UTF-8 byte length, computed independently of the package. */
export function bytesOf(value: string): number {
  return new TextEncoder().encode(value).length;
}

/**
 * Runs `fn` and returns the ValidationError it throws, or `undefined` when it
 * returns. Any other error fails the test.
 */
export function caught(fn: () => unknown): ValidationError | undefined {
  try {
    fn();
  } catch (e) {
    if (isValidationError(e)) {
      return e;
    }
    throw e;
  }
  return undefined;
}

/** The fields of a ValidationError that tests compare. */
export function describeError(error: ValidationError | undefined) {
  return error === undefined
    ? undefined
    : { message: error.message, field: error.field, code: error.code, limit: error.limit };
}
