import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { satisfiesMinVersion } from "./satisfies-min-version.js";
import { caught, RUNS, version } from "./test-arbitraries.js";

describe("satisfiesMinVersion", () => {
  it.each([
    ["10.0.0", "9.0.0", true],
    ["1.0.0-beta", "1.0.0", false],
    ["1.0.0", "1.0.0", true],
    ["1.0.0", "1.0.0-beta", true],
    ["1.1.0-beta", "1.0.0", true],
    ["0.9.9", "1.0.0", false],
    ["1.2.3", "1.2.10", false],
    ["0.0.1", "", true],
    ["1.0.0-alpha", "", true],
  ])("%s satisfies min_version %j: %s", (v, min, expected) => {
    expect(satisfiesMinVersion(v, min)).toBe(expected);
  });

  it("reports a malformed version or min_version", () => {
    expect(caught(() => satisfiesMinVersion("v1.0.0", "1.0.0"))?.field).toBe("version");
    expect(caught(() => satisfiesMinVersion("1.0.0", "1.0"))?.message).toBe(
      'min version "1.0" must be semantic (MAJOR.MINOR.PATCH[-prerelease]) without a "v" prefix',
    );
  });

  describe("properties", () => {
    it("agrees with the major.minor.patch order of generated versions", () => {
      fc.assert(
        fc.property(version, version, (a, b) => {
          const [pa, pb] = [a, b].map((v) => v.split("-")[0]!.split(".").map(Number)) as [
            number[],
            number[],
          ];
          const core = pa[0]! - pb[0]! || pa[1]! - pb[1]! || pa[2]! - pb[2]!;
          if (core !== 0) {
            expect(satisfiesMinVersion(a, b)).toBe(core > 0);
          }
          expect(satisfiesMinVersion(a, a)).toBe(true);
          expect(satisfiesMinVersion(a, "")).toBe(true);
        }),
        RUNS,
      );
    });

    it("never lets a prerelease satisfy its own release", () => {
      fc.assert(
        fc.property(version, (v) => {
          const release = v.split("-")[0]!;
          expect(satisfiesMinVersion(release, v)).toBe(true);
          expect(satisfiesMinVersion(v, release)).toBe(v === release);
        }),
        RUNS,
      );
    });
  });
});
