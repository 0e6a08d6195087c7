import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { validateDependencyList } from "./dependency-list.js";
import {
  caught,
  describeError,
  RUNS,
  typeName,
  withInsertion,
  withLookalike,
} from "./test-arbitraries.js";

const PATTERN = 'must start with a letter and contain only letters, digits, "_", ".", "-"';

describe("validateDependencyList", () => {
  it.each([[[]], [["kv", "logger.v1"]], [Array.from({ length: 100 }, (_, i) => `dep${i}`)]])(
    "accepts %j",
    (value) => {
      expect(() => validateDependencyList(value)).not.toThrow();
    },
  );

  it.each([
    [
      Array.from({ length: 101 }, () => "kv"),
      "dependency list has too many entries: 101 (max: 100)",
      "too_many",
      100,
    ],
    [["kv", ""], "dependency must not be empty", "empty", undefined],
    [["x".repeat(129)], "dependency too long: 129 bytes (max: 128)", "too_long", 128],
    [["1kv"], `dependency "1kv" ${PATTERN}`, "invalid_format", undefined],
    [["kv\u0000"], `dependency "kv\\u0000" ${PATTERN}`, "invalid_format", undefined],
    [["a..b"], 'dependency "a..b" must not contain ".."', "invalid_format", undefined],
  ])("rejects %j", (value, message, code, limit) => {
    expect(describeError(caught(() => validateDependencyList(value)))).toEqual({
      message,
      field: "unavailable_dependencies",
      code,
      limit,
    });
  });

  it("uses the configured limits", () => {
    expect(() => validateDependencyList(["a", "b"], { limits: { maxDependencies: 1 } })).toThrow(
      "dependency list has too many entries: 2 (max: 1)",
    );
    expect(() => validateDependencyList(["abc"], { limits: { maxServiceTypeBytes: 2 } })).toThrow(
      "dependency too long: 3 bytes (max: 2)",
    );
  });

  describe("properties", () => {
    it("accepts every list of at most 100 service types", () => {
      fc.assert(
        fc.property(fc.array(typeName(128), { maxLength: 100 }), (value) => {
          expect(caught(() => validateDependencyList(value))).toBeUndefined();
        }),
        RUNS,
      );
    });

    it("rejects lists of more than 100 entries", () => {
      fc.assert(
        fc.property(fc.integer({ min: 101, max: 5000 }), (count) => {
          const value = Array.from({ length: count }, () => "kv");
          expect(caught(() => validateDependencyList(value))?.message).toBe(
            `dependency list has too many entries: ${count} (max: 100)`,
          );
        }),
        RUNS,
      );
    });

    it("rejects a list with one invalid entry", () => {
      const bad = fc.oneof(
        withInsertion(typeName(100), fc.constantFrom("\u0000", "/")),
        withLookalike(typeName(100)),
        withInsertion(typeName(100), fc.constant(".."), 1),
      );
      fc.assert(
        fc.property(fc.array(typeName(20), { maxLength: 50 }), bad, (good, entry) => {
          const error = caught(() => validateDependencyList([...good, entry]));
          expect(error?.field).toBe("unavailable_dependencies");
          expect(error?.message.startsWith(`dependency ${JSON.stringify(entry)} must`)).toBe(true);
        }),
        RUNS,
      );
    });
  });
});
