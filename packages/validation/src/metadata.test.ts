import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { validateClientMetadata, validateMetadata } from "./metadata.js";
import {
  bytesOf,
  caught,
  describeError,
  identifier,
  overlongIdentifier,
  RUNS,
  textWithoutNul,
  withInsertion,
  withLookalike,
} from "./test-arbitraries.js";

const PATTERN = 'must start with a letter and contain only letters, digits, "_", ".", "-"';

function entries(count: number): Record<string, string> {
  return Object.fromEntries(Array.from({ length: count }, (_, i) => [`k${i}`, "v"]));
}

const validMap = fc.dictionary(identifier(256), textWithoutNul(4096), { maxKeys: 100 });

describe.each([
  ["metadata", validateMetadata],
  ["client_metadata", validateClientMetadata],
] as const)("%s", (field, validate) => {
  const label = field.replace("_", " ");

  it.each([
    [{}],
    [{ base_url: "http://10.0.0.7:8082", "team.owner": "kv", a: "" }],
    [{ [`k${"x".repeat(255)}`]: "v".repeat(4096) }],
    [entries(100)],
  ])("accepts %j", (value) => {
    expect(() => validate(value)).not.toThrow();
  });

  it.each([
    [entries(101), `${label} has too many entries: 101 (max: 100)`, field, "too_many", 100],
    [{ "": "v" }, `${label} key must not be empty`, `${field}.key`, "empty", undefined],
    [
      { ["k".repeat(300)]: "v" },
      `${label} key too long: 300 bytes (max: 256)`,
      `${field}.key`,
      "too_long",
      256,
    ],
    [{ "1k": "v" }, `${label} key "1k" ${PATTERN}`, `${field}.key`, "invalid_format", undefined],
    [{ kеy: "v" }, `${label} key "kеy" ${PATTERN}`, `${field}.key`, "invalid_format", undefined],
    [
      { "k\u0000": "v" },
      `${label} key "k\\u0000" ${PATTERN}`,
      `${field}.key`,
      "invalid_format",
      undefined,
    ],
    [
      { k: "v".repeat(4097) },
      `${label} value for "k" too long: 4097 bytes (max: 4096)`,
      `${field}.value`,
      "too_long",
      4096,
    ],
    [
      { k: "a\u0000b" },
      `${label} value for "k" contains a NUL byte`,
      `${field}.value`,
      "forbidden_character",
      undefined,
    ],
  ])("rejects %j", (value, message, errorField, code, limit) => {
    expect(describeError(caught(() => validate(value)))).toEqual({
      message,
      field: errorField,
      code,
      limit,
    });
  });

  it("uses the configured limits", () => {
    const limits = { maxMetadataEntries: 1, maxMetadataKeyBytes: 2, maxMetadataValueBytes: 3 };
    expect(() => validate({ a: "1", b: "2" }, { limits })).toThrow(
      `${label} has too many entries: 2 (max: 1)`,
    );
    expect(() => validate({ abc: "1" }, { limits })).toThrow(
      `${label} key too long: 3 bytes (max: 2)`,
    );
    expect(() => validate({ ab: "1234" }, { limits })).toThrow(
      `${label} value for "ab" too long: 4 bytes (max: 3)`,
    );
  });

  describe("properties", () => {
    it("accepts every valid map", () => {
      fc.assert(
        fc.property(validMap, (value) => {
          expect(caught(() => validate(value))).toBeUndefined();
        }),
        RUNS,
      );
    });

    it("rejects huge maps", () => {
      fc.assert(
        fc.property(fc.integer({ min: 101, max: 2000 }), (count) => {
          expect(caught(() => validate(entries(count)))?.message).toBe(
            `${label} has too many entries: ${count} (max: 100)`,
          );
        }),
        RUNS,
      );
    });

    it("rejects invalid keys", () => {
      const badKey = fc.oneof(
        withInsertion(identifier(200), fc.constantFrom("\u0000", " ", "/", "="), 1),
        withLookalike(identifier(200)),
        fc.tuple(fc.integer({ min: 0, max: 9 }), identifier(200)).map(([d, r]) => `${d}${r}`),
      );
      fc.assert(
        fc.property(badKey, (key) => {
          expect(caught(() => validate({ ok: "v", [key]: "v" }))?.message).toBe(
            `${label} key ${JSON.stringify(key)} ${PATTERN}`,
          );
        }),
        RUNS,
      );
    });

    it("rejects overlong keys", () => {
      fc.assert(
        fc.property(overlongIdentifier(256), (key) => {
          expect(caught(() => validate({ [key]: "v" }))?.message).toBe(
            `${label} key too long: ${bytesOf(key)} bytes (max: 256)`,
          );
        }),
        RUNS,
      );
    });

    it("rejects values with a NUL byte or over 4096 bytes", () => {
      const badValue = fc.oneof(
        withInsertion(textWithoutNul(100), fc.constant("\u0000")),
        fc
          .string({ unit: "grapheme", minLength: 1366, maxLength: 3000 })
          .filter((s) => bytesOf(s) > 4096 && !s.includes("\u0000")),
      );
      fc.assert(
        fc.property(identifier(20), badValue, (key, value) => {
          expect(caught(() => validate({ [key]: value }))?.message).toBe(
            bytesOf(value) > 4096
              ? `${label} value for ${JSON.stringify(key)} too long: ${bytesOf(value)} bytes (max: 4096)`
              : `${label} value for ${JSON.stringify(key)} contains a NUL byte`,
          );
        }),
        RUNS,
      );
    });
  });
});
