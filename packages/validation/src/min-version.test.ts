import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { validateMinVersion } from "./min-version.js";
import { caught, describeError, RUNS, version } from "./test-arbitraries.js";

describe("validateMinVersion", () => {
  it.each(["", "1.0.0", "0.0.1-rc.1"])("accepts %j", (value) => {
    expect(() => validateMinVersion(value)).not.toThrow();
  });

  it.each([
    [
      "v1.0.0",
      'min version "v1.0.0" must be semantic (MAJOR.MINOR.PATCH[-prerelease]) without a "v" prefix',
      "invalid_format",
      undefined,
    ],
    [
      ">=1.0.0",
      'min version ">=1.0.0" must be semantic (MAJOR.MINOR.PATCH[-prerelease]) without a "v" prefix',
      "invalid_format",
      undefined,
    ],
    [`1.0.0-${"a".repeat(60)}`, "min version too long: 66 bytes (max: 64)", "too_long", 64],
  ])("rejects %j", (value, message, code, limit) => {
    expect(describeError(caught(() => validateMinVersion(value)))).toEqual({
      message,
      field: "min_version",
      code,
      limit,
    });
  });

  describe("properties", () => {
    it("accepts every strict semantic version", () => {
      fc.assert(
        fc.property(version, (value) => {
          expect(caught(() => validateMinVersion(value))).toBeUndefined();
        }),
        RUNS,
      );
    });

    it("rejects any v-prefixed version", () => {
      fc.assert(
        fc.property(version, (value) => {
          expect(caught(() => validateMinVersion(`v${value}`))?.code).toBe(
            value.length + 1 > 64 ? "too_long" : "invalid_format",
          );
        }),
        RUNS,
      );
    });
  });
});
