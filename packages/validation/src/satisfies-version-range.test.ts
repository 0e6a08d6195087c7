import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { satisfiesVersionRange } from "./satisfies-version-range.js";
import { caught, describeError, RUNS, version } from "./test-arbitraries.js";

describe("satisfiesVersionRange", () => {
  it.each([
    ["1.4.2", "^1.2.0", true],
    ["2.0.0", "^1.2.0", false],
    ["10.0.0", ">=9.0.0", true],
    ["1.0.0-beta", ">=1.0.0", false],
    ["1.3.0-beta", "^1.0.0", false],
    ["1.0.0-beta.2", ">=1.0.0-beta.1", true],
    ["2.0.0", ">=1.0.0 <2.0.0", false],
    ["1.9.9", ">=1.0.0 <2.0.0", true],
    ["3.1.0", "1.x || >=3.0.0", true],
    ["5.0.0", "", true],
  ])("%s in %j: %s", (v, range, expected) => {
    expect(satisfiesVersionRange(v, range)).toBe(expected);
  });

  it.each([
    [
      "not a range",
      'version range "not a range" is not a valid semver range',
      "invalid_format",
      undefined,
    ],
    [">=1.0.0\u0000", "version range contains a NUL byte", "forbidden_character", undefined],
    [">=1.0.0 ".repeat(40), "version range too long: 320 bytes (max: 256)", "too_long", 256],
  ])("rejects range %j", (range, message, code, limit) => {
    expect(describeError(caught(() => satisfiesVersionRange("1.0.0", range)))).toEqual({
      message,
      field: "version_range",
      code,
      limit,
    });
  });

  it("rejects a malformed version", () => {
    expect(caught(() => satisfiesVersionRange("1.0", "*"))?.field).toBe("version");
  });

  describe("properties", () => {
    it("matches satisfiesMinVersion for releases and >= ranges", () => {
      fc.assert(
        fc.property(version, version, (a, b) => {
          const release = a.split("-")[0]!;
          const min = b.split("-")[0]!;
          const [pa, pb] = [release, min].map((v) => v.split(".").map(Number)) as [
            number[],
            number[],
          ];
          const core = pa[0]! - pb[0]! || pa[1]! - pb[1]! || pa[2]! - pb[2]!;
          expect(satisfiesVersionRange(release, `>=${min}`)).toBe(core >= 0);
          expect(satisfiesVersionRange(release, "")).toBe(true);
        }),
        RUNS,
      );
    });

    it("rejects generated garbage ranges without crashing", () => {
      fc.assert(
        fc.property(fc.string({ maxLength: 300 }), (range) => {
          const error = caught(() => satisfiesVersionRange("1.0.0", range));
          if (error !== undefined) {
            expect(error.field).toBe("version_range");
          }
        }),
        RUNS,
      );
    });
  });
});
