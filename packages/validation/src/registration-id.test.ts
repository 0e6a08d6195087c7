import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { validateRegistrationId } from "./registration-id.js";
import {
  bytesOf,
  caught,
  describeError,
  RUNS,
  textWithoutNul,
  withInsertion,
} from "./test-arbitraries.js";

describe("validateRegistrationId", () => {
  it.each(["reg-1", "kv-store-1a2b/kv", "x".repeat(128), "é"])("accepts %j", (value) => {
    expect(() => validateRegistrationId(value)).not.toThrow();
  });

  it.each([
    ["", "registration ID must not be empty", "empty", undefined],
    ["x".repeat(129), "registration ID too long: 129 bytes (max: 128)", "too_long", 128],
    ["reg\u0000", "registration ID contains a NUL byte", "forbidden_character", undefined],
  ])("rejects %j", (value, message, code, limit) => {
    expect(describeError(caught(() => validateRegistrationId(value)))).toEqual({
      message,
      field: "registration_id",
      code,
      limit,
    });
  });

  it("uses the configured limit", () => {
    expect(() => validateRegistrationId("abc", { limits: { maxRegistrationIdBytes: 2 } })).toThrow(
      "registration ID too long: 3 bytes (max: 2)",
    );
  });

  describe("properties", () => {
    const valid = textWithoutNul(128).filter((s) => s.length > 0);

    it("accepts every non-empty id of at most 128 bytes without NUL", () => {
      fc.assert(
        fc.property(valid, (value) => {
          expect(caught(() => validateRegistrationId(value))).toBeUndefined();
        }),
        RUNS,
      );
    });

    it("rejects ids with a NUL byte or over 128 bytes", () => {
      const bad = fc.oneof(
        withInsertion(valid, fc.constant("\u0000")),
        fc
          .string({ unit: "grapheme", minLength: 43, maxLength: 400 })
          .filter((s) => bytesOf(s) > 128),
      );
      fc.assert(
        fc.property(bad, (value) => {
          expect(caught(() => validateRegistrationId(value))?.message).toBe(
            bytesOf(value) > 128
              ? `registration ID too long: ${bytesOf(value)} bytes (max: 128)`
              : "registration ID contains a NUL byte",
          );
        }),
        RUNS,
      );
    });
  });
});
