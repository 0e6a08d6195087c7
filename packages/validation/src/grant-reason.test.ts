import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { validateGrantReason } from "./grant-reason.js";
import {
  bytesOf,
  caught,
  describeError,
  RUNS,
  textWithoutNul,
  withInsertion,
} from "./test-arbitraries.js";

describe("validateGrantReason", () => {
  it.each(["", "database unreachable", "é".repeat(512), "x".repeat(1024)])(
    "accepts %j",
    (value) => {
      expect(() => validateGrantReason(value)).not.toThrow();
    },
  );

  it.each([
    ["x".repeat(1025), "grant reason too long: 1025 bytes (max: 1024)", "too_long", 1024],
    ["😀".repeat(257), "grant reason too long: 1028 bytes (max: 1024)", "too_long", 1024],
    ["a\u0000b", "grant reason contains a NUL byte", "forbidden_character", undefined],
  ])("rejects %j", (value, message, code, limit) => {
    expect(describeError(caught(() => validateGrantReason(value)))).toEqual({
      message,
      field: "reason",
      code,
      limit,
    });
  });

  it("uses the configured limit", () => {
    expect(() => validateGrantReason("abc", { limits: { maxGrantReasonBytes: 2 } })).toThrow(
      "grant reason too long: 3 bytes (max: 2)",
    );
  });

  describe("properties", () => {
    it("accepts every reason of at most 1024 bytes without NUL", () => {
      fc.assert(
        fc.property(textWithoutNul(1024), (value) => {
          expect(caught(() => validateGrantReason(value))).toBeUndefined();
        }),
        RUNS,
      );
    });

    it("rejects reasons with a NUL byte or over 1024 bytes", () => {
      const bad = fc.oneof(
        withInsertion(textWithoutNul(200), fc.constant("\u0000")),
        fc
          .string({ unit: "grapheme", minLength: 342, maxLength: 2000 })
          .map((s) => s.replaceAll("\u0000", ""))
          .filter((s) => bytesOf(s) > 1024),
      );
      fc.assert(
        fc.property(bad, (value) => {
          expect(caught(() => validateGrantReason(value))?.message).toBe(
            bytesOf(value) > 1024
              ? `grant reason too long: ${bytesOf(value)} bytes (max: 1024)`
              : "grant reason contains a NUL byte",
          );
        }),
        RUNS,
      );
    });
  });
});
