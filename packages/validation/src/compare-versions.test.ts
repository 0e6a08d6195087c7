import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compareVersions } from "./compare-versions.js";
import { caught, RUNS, version } from "./test-arbitraries.js";

describe("compareVersions", () => {
  it.each([
    ["1.0.0", "1.0.0", 0],
    ["10.0.0", "9.0.0", 1],
    ["9.0.0", "10.0.0", -1],
    ["1.10.0", "1.9.0", 1],
    ["1.0.10", "1.0.9", 1],
    ["1.0.0-beta", "1.0.0", -1],
    ["1.0.0-alpha", "1.0.0-beta", -1],
    ["1.0.0-rc.10", "1.0.0-rc.9", 1],
    ["1.0.0-1", "1.0.0-alpha", -1],
  ])("compares %s with %s as %i", (a, b, expected) => {
    expect(compareVersions(a, b)).toBe(expected);
  });

  it("sorts by precedence, not as strings", () => {
    expect(["1.0.0", "10.0.0", "9.0.0", "1.0.0-rc.1"].sort(compareVersions)).toEqual([
      "1.0.0-rc.1",
      "1.0.0",
      "9.0.0",
      "10.0.0",
    ]);
  });

  it.each([
    ["v1.0.0", "1.0.0"],
    ["1.0.0", "1.0"],
  ])("throws on malformed %s / %s", (a, b) => {
    const error = caught(() => compareVersions(a, b));
    expect(error?.field).toBe("version");
    expect(error?.code).toBe("invalid_format");
  });

  describe("properties", () => {
    it("is antisymmetric, reflexive and orders numbers numerically", () => {
      fc.assert(
        fc.property(version, version, (a, b) => {
          expect(compareVersions(a, a)).toBe(0);
          expect(compareVersions(a, b)).toBe(-compareVersions(b, a) || 0);
          const [ma, mb] = [Number(a.split(".")[0]), Number(b.split(".")[0])];
          if (ma !== mb) {
            expect(compareVersions(a, b)).toBe(ma < mb ? -1 : 1);
          }
        }),
        RUNS,
      );
    });
  });
});
