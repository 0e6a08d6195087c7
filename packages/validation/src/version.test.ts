import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { caught, describeError, RUNS, version, withInsertion } from "./test-arbitraries.js";
import { validateVersion } from "./version.js";

const SEMANTIC = 'must be semantic (MAJOR.MINOR.PATCH[-prerelease]) without a "v" prefix';

describe("validateVersion", () => {
  it.each([
    "0.0.0",
    "1.0.0",
    "10.20.30",
    "2.1.3-beta",
    "3.0.0-rc.1",
    "1.0.0-alpha-1",
    "1.0.0-0.3.7",
    "1.0.0-x.7.z.92",
    "1.0.0-0a",
    `1.0.${"1".repeat(15)}`,
  ])("accepts %j", (value) => {
    expect(() => validateVersion(value)).not.toThrow();
  });

  it.each([
    ["", "version must not be empty", "empty", undefined],
    [`1.0.0-${"a".repeat(59)}`, "version too long: 65 bytes (max: 64)", "too_long", 64],
  ])("rejects %j", (value, message, code, limit) => {
    expect(describeError(caught(() => validateVersion(value)))).toEqual({
      message,
      field: "version",
      code,
      limit,
    });
  });

  it.each([
    "v1.0.0",
    "V1.0.0",
    "1",
    "1.0",
    "1.0.0.0",
    "01.0.0",
    "1.00.0",
    "1.0.00",
    "1.0.0-",
    "1.0.0-a..b",
    "1.0.0-01",
    "1.0.0+build",
    "1.0.0-beta+build",
    " 1.0.0",
    "1.0.0 ",
    "1.0.0\u0000",
    "١.0.0",
    "1.0.0-bеta",
    "x.y.z",
    "99999999999999999.0.0",
  ])("rejects %j as not semantic", (value) => {
    expect(describeError(caught(() => validateVersion(value)))).toEqual({
      message: `version ${JSON.stringify(value)} ${SEMANTIC}`,
      field: "version",
      code: "invalid_format",
      limit: undefined,
    });
  });

  it("uses the configured limit", () => {
    expect(() => validateVersion("10.0.0", { limits: { maxVersionBytes: 5 } })).toThrow(
      "version too long: 6 bytes (max: 5)",
    );
  });

  describe("properties", () => {
    it("accepts every strict semantic version", () => {
      fc.assert(
        fc.property(version, (value) => {
          expect(caught(() => validateVersion(value))).toBeUndefined();
        }),
        RUNS,
      );
    });

    it("rejects prefixes, build metadata, NUL bytes and look-alikes", () => {
      const bad = fc.oneof(
        version.map((v) => `v${v}`),
        version.map((v) => `${v}+build.1`),
        withInsertion(version, fc.constantFrom("\u0000", " ", "а", "..")),
      );
      fc.assert(
        fc.property(bad, (value) => {
          const error = caught(() => validateVersion(value));
          expect(error?.field).toBe("version");
          if (new TextEncoder().encode(value).length > 64) {
            expect(error?.code).toBe("too_long");
          } else {
            expect(error?.message).toBe(`version ${JSON.stringify(value)} ${SEMANTIC}`);
          }
        }),
        RUNS,
      );
    });

    it("rejects overlong versions", () => {
      fc.assert(
        fc.property(fc.integer({ min: 65, max: 500 }), (length) => {
          const value = `1.0.0-${"a".repeat(length - 6)}`;
          expect(caught(() => validateVersion(value))?.message).toBe(
            `version too long: ${length} bytes (max: 64)`,
          );
        }),
        RUNS,
      );
    });
  });
});
