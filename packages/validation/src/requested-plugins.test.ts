import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { checkRequestedPlugins } from "./requested-plugins.js";
import {
  bytesOf,
  caught,
  describeError,
  RUNS,
  textWithoutNul,
  withInsertion,
} from "./test-arbitraries.js";
import { resolveValidationOptions } from "./validation-options.js";

const defaults = resolveValidationOptions(undefined);

describe("checkRequestedPlugins", () => {
  it.each([[[]], [["kv", "logger"]], [["", "Any Name"]], [Array.from({ length: 100 }, () => "p")]])(
    "accepts %j",
    (value) => {
      expect(() => checkRequestedPlugins(value, defaults)).not.toThrow();
    },
  );

  it.each([
    [
      Array.from({ length: 101 }, () => "p"),
      "requested plugin list has too many entries: 101 (max: 100)",
      "too_many",
      100,
    ],
    [["x".repeat(129)], "requested plugin too long: 129 bytes (max: 128)", "too_long", 128],
    [["kv\u0000"], "requested plugin contains a NUL byte", "forbidden_character", undefined],
  ])("rejects %j", (value, message, code, limit) => {
    expect(describeError(caught(() => checkRequestedPlugins(value, defaults)))).toEqual({
      message,
      field: "requested_plugins",
      code,
      limit,
    });
  });

  describe("properties", () => {
    it("accepts every list of at most 100 names of at most 128 bytes", () => {
      fc.assert(
        fc.property(fc.array(textWithoutNul(128), { maxLength: 100 }), (value) => {
          expect(caught(() => checkRequestedPlugins(value, defaults))).toBeUndefined();
        }),
        RUNS,
      );
    });

    it("rejects long lists, long names and NUL bytes", () => {
      const bad = fc.oneof(
        fc.integer({ min: 101, max: 1000 }).map((n) => Array.from({ length: n }, () => "p")),
        withInsertion(textWithoutNul(100), fc.constant("\u0000")).map((s) => [s]),
        fc.integer({ min: 129, max: 1000 }).map((n) => ["p".repeat(n)]),
      );
      fc.assert(
        fc.property(bad, (value) => {
          const first = value[0]!;
          expect(caught(() => checkRequestedPlugins(value, defaults))?.message).toBe(
            value.length > 100
              ? `requested plugin list has too many entries: ${value.length} (max: 100)`
              : bytesOf(first) > 128
                ? `requested plugin too long: ${bytesOf(first)} bytes (max: 128)`
                : "requested plugin contains a NUL byte",
          );
        }),
        RUNS,
      );
    });
  });
});
