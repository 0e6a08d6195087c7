import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { validateServiceType } from "./service-type.js";
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

describe("validateServiceType", () => {
  it.each(["a", "kv", "logger.v1", "kv-store_2", "A.b-c_d", "x".repeat(128)])(
    "accepts %j",
    (value) => {
      expect(() => validateServiceType(value)).not.toThrow();
    },
  );

  it.each([
    ["", "service type must not be empty", "empty", undefined],
    ["x".repeat(129), "service type too long: 129 bytes (max: 128)", "too_long", 128],
    ["é".repeat(65), "service type too long: 130 bytes (max: 128)", "too_long", 128],
    ["1abc", `service type "1abc" ${PATTERN}`, "invalid_format", undefined],
    ["_abc", `service type "_abc" ${PATTERN}`, "invalid_format", undefined],
    [".abc", `service type ".abc" ${PATTERN}`, "invalid_format", undefined],
    ["../etc", `service type "../etc" ${PATTERN}`, "invalid_format", undefined],
    ["a/b", `service type "a/b" ${PATTERN}`, "invalid_format", undefined],
    ["a b", `service type "a b" ${PATTERN}`, "invalid_format", undefined],
    ["kа", `service type "kа" ${PATTERN}`, "invalid_format", undefined],
    ["k\u0000", `service type "k\\u0000" ${PATTERN}`, "invalid_format", undefined],
    ["a..b", 'service type "a..b" must not contain ".."', "invalid_format", undefined],
    ["a...", 'service type "a..." must not contain ".."', "invalid_format", undefined],
  ])("rejects %j", (value, message, code, limit) => {
    expect(describeError(caught(() => validateServiceType(value)))).toEqual({
      message,
      field: "service_type",
      code,
      limit,
    });
  });

  it("uses the configured limit", () => {
    expect(() => validateServiceType("abcd", { limits: { maxServiceTypeBytes: 3 } })).toThrow(
      "service type too long: 4 bytes (max: 3)",
    );
    expect(() =>
      validateServiceType("x".repeat(200), { limits: { maxServiceTypeBytes: 200 } }),
    ).not.toThrow();
  });

  describe("properties", () => {
    it("accepts every valid service type", () => {
      fc.assert(
        fc.property(typeName(128), (value) => {
          expect(caught(() => validateServiceType(value))).toBeUndefined();
        }),
        RUNS,
      );
    });

    it("rejects overlong service types with their byte count", () => {
      fc.assert(
        fc.property(overlongIdentifier(128), (value) => {
          expect(caught(() => validateServiceType(value))?.message).toBe(
            `service type too long: ${bytesOf(value)} bytes (max: 128)`,
          );
        }),
        RUNS,
      );
    });

    it("rejects NUL bytes, look-alikes and forbidden characters", () => {
      const bad = fc.oneof(
        withInsertion(typeName(120), fc.constantFrom("\u0000", "/", "\\", " ", "%", ":", "@")),
        withLookalike(typeName(120)),
      );
      fc.assert(
        fc.property(bad, (value) => {
          expect(caught(() => validateServiceType(value))?.message).toBe(
            `service type ${JSON.stringify(value)} ${PATTERN}`,
          );
        }),
        RUNS,
      );
    });

    it("rejects leading digits", () => {
      fc.assert(
        fc.property(fc.integer({ min: 0, max: 9 }), typeName(100), (digit, rest) => {
          const value = `${digit}${rest}`;
          expect(caught(() => validateServiceType(value))?.message).toBe(
            `service type ${JSON.stringify(value)} ${PATTERN}`,
          );
        }),
        RUNS,
      );
    });

    it("rejects path traversal (..)", () => {
      fc.assert(
        fc.property(withInsertion(typeName(120), fc.constantFrom("..", "..."), 1), (value) => {
          expect(caught(() => validateServiceType(value))?.message).toBe(
            `service type ${JSON.stringify(value)} must not contain ".."`,
          );
        }),
        RUNS,
      );
    });
  });
});
