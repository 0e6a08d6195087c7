import { HealthState } from "@cpg/protocol";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { checkHealthState } from "./health-state.js";
import { caught, describeError, RUNS } from "./test-arbitraries.js";

describe("checkHealthState", () => {
  it.each([
    HealthState.UNSPECIFIED,
    HealthState.HEALTHY,
    HealthState.DEGRADED,
    HealthState.UNHEALTHY,
  ])("accepts %i", (state) => {
    expect(() => checkHealthState(state)).not.toThrow();
  });

  it.each([
    [4, "health state 4 is not a known value (known: 0..3)"],
    [-1, "health state -1 is not a known value (known: 0..3)"],
    [2147483647, "health state 2147483647 is not a known value (known: 0..3)"],
  ])("rejects %i", (state, message) => {
    expect(describeError(caught(() => checkHealthState(state)))).toEqual({
      message,
      field: "state",
      code: "unknown_value",
      limit: undefined,
    });
  });

  it("accepts exactly 0..3 among all int32 values", () => {
    fc.assert(
      fc.property(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), (state) => {
        const error = caught(() => checkHealthState(state));
        expect(error === undefined).toBe(state >= 0 && state <= 3);
      }),
      RUNS,
    );
  });
});
