import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { validateCapabilityType } from "./capability-type.js";
import {
  bytesOf,
  caught,
  describeError,
  overlongIdentifier,
  RUNS,
  typeName,
  withInsertion,
  withLookalike,
} from "./test-arbitraries.js";

const PATTERN = 'must start with a letter and contain only letters, digits, "_", ".", "-"';

describe("validateCapabilityType", () => {
  it.each(["logger", "capability.logger.v1", "x".repeat(128)])("accepts %j", (value) => {
    expect(() => validateCapabilityType(value)).not.toThrow();
  });

  it.each([
    ["", "capability type must not be empty", "empty", undefined],
    ["x".repeat(129), "capability type too long: 129 bytes (max: 128)", "too_long", 128],
    ["9lives", `capability type "9lives" ${PATTERN}`, "invalid_format", undefined],
    ["lоgger", `capability type "lоgger" ${PATTERN}`, "invalid_format", undefined],
    ["a..b", 'capability type "a..b" must not contain ".."', "invalid_format", undefined],
  ])("rejects %j", (value, message, code, limit) => {
    expect(describeError(caught(() => validateCapabilityType(value)))).toEqual({
      message,
      field: "capability_type",
      code,
      limit,
    });
  });

  it("uses the configured limit", () => {
    expect(() =>
      validateCapabilityType("logger", { limits: { maxCapabilityTypeBytes: 5 } }),
    ).toThrow("capability type too long: 6 bytes (max: 5)");
  });

  describe("properties", () => {
    it("accepts every valid capability type", () => {
      fc.assert(
        fc.property(typeName(128), (value) => {
          expect(caught(() => validateCapabilityType(value))).toBeUndefined();
        }),
        RUNS,
      );
    });

    it("rejects overlong capability types", () => {
      fc.assert(
        fc.property(overlongIdentifier(128), (value) => {
          expect(caught(() => validateCapabilityType(value))?.message).toBe(
            `capability type too long: ${bytesOf(value)} bytes (max: 128)`,
          );
        }),
        RUNS,
      );
    });

    it("rejects NUL bytes, look-alikes and leading digits", () => {
      const bad = fc.oneof(
        withInsertion(typeName(120), fc.constant("\u0000")),
        withLookalike(typeName(120)),
        fc.tuple(fc.integer({ min: 0, max: 9 }), typeName(100)).map(([d, r]) => `${d}${r}`),
      );
      fc.assert(
        fc.property(bad, (value) => {
          expect(caught(() => validateCapabilityType(value))?.message).toBe(
            `capability type ${JSON.stringify(value)} ${PATTERN}`,
          );
        }),
        RUNS,
      );
    });

    it("rejects path traversal (..)", () => {
      fc.assert(
        fc.property(withInsertion(typeName(120), fc.constant(".."), 1), (value) => {
          expect(caught(() => validateCapabilityType(value))?.message).toBe(
            `capability type ${JSON.stringify(value)} must not contain ".."`,
          );
        }),
        RUNS,
      );
    });
  });
});
