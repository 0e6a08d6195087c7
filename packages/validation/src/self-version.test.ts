import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { checkSelfVersion } from "./self-version.js";
import { caught, describeError, RUNS, textWithoutNul, withInsertion } from "./test-arbitraries.js";
import { resolveValidationOptions } from "./validation-options.js";

const defaults = resolveValidationOptions(undefined);

describe("checkSelfVersion", () => {
  it.each(["", "1.0.0", "dev", "v2.3.4+build", "x".repeat(64)])("accepts %j", (value) => {
    expect(() => checkSelfVersion(value, defaults)).not.toThrow();
  });

  it.each([
    ["x".repeat(65), "self version too long: 65 bytes (max: 64)", "too_long", 64],
    ["1.0.0\u0000", "self version contains a NUL byte", "forbidden_character", undefined],
  ])("rejects %j", (value, message, code, limit) => {
    expect(describeError(caught(() => checkSelfVersion(value, defaults)))).toEqual({
      message,
      field: "self_version",
      code,
      limit,
    });
  });

  describe("properties", () => {
    it("accepts any text of at most 64 bytes without NUL", () => {
      fc.assert(
        fc.property(textWithoutNul(64), (value) => {
          expect(caught(() => checkSelfVersion(value, defaults))).toBeUndefined();
        }),
        RUNS,
      );
    });

    it("rejects NUL bytes and more than 64 bytes", () => {
      const bad = fc.oneof(
        withInsertion(textWithoutNul(40), fc.constant("\u0000")),
        fc.integer({ min: 65, max: 1000 }).map((n) => "v".repeat(n)),
      );
      fc.assert(
        fc.property(bad, (value) => {
          expect(caught(() => checkSelfVersion(value, defaults))?.message).toBe(
            value.length > 64
              ? `self version too long: ${value.length} bytes (max: 64)`
              : "self version contains a NUL byte",
          );
        }),
        RUNS,
      );
    });
  });
});
