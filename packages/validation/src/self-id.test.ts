import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { validateSelfId } from "./self-id.js";
import {
  bytesOf,
  caught,
  describeError,
  identifier,
  overlongIdentifier,
  RUNS,
  withInsertion,
  withLookalike,
} from "./test-arbitraries.js";

const PATTERN = 'must start with a letter and contain only letters, digits, "_", ".", "-"';

describe("validateSelfId", () => {
  // Unlike a service type, a self_id may contain "..".
  it.each(["kv-store", "Plugin_1", "a..b", "x".repeat(128)])("accepts %j", (value) => {
    expect(() => validateSelfId(value)).not.toThrow();
  });

  it.each([
    ["", "self ID must not be empty", "empty", undefined],
    ["x".repeat(129), "self ID too long: 129 bytes (max: 128)", "too_long", 128],
    ["1abc", `self ID "1abc" ${PATTERN}`, "invalid_format", undefined],
    ["kv/store", `self ID "kv/store" ${PATTERN}`, "invalid_format", undefined],
    ["kv\u0000", `self ID "kv\\u0000" ${PATTERN}`, "invalid_format", undefined],
  ])("rejects %j", (value, message, code, limit) => {
    expect(describeError(caught(() => validateSelfId(value)))).toEqual({
      message,
      field: "self_id",
      code,
      limit,
    });
  });

  it("uses the configured limit", () => {
    expect(() => validateSelfId("abc", { limits: { maxSelfIdBytes: 2 } })).toThrow(
      "self ID too long: 3 bytes (max: 2)",
    );
  });

  describe("properties", () => {
    it("accepts every valid self_id", () => {
      fc.assert(
        fc.property(identifier(128), (value) => {
          expect(caught(() => validateSelfId(value))).toBeUndefined();
        }),
        RUNS,
      );
    });

    it("rejects overlong self_ids", () => {
      fc.assert(
        fc.property(overlongIdentifier(128), (value) => {
          expect(caught(() => validateSelfId(value))?.message).toBe(
            `self ID too long: ${bytesOf(value)} bytes (max: 128)`,
          );
        }),
        RUNS,
      );
    });

    it("rejects NUL bytes, look-alikes and leading digits", () => {
      const bad = fc.oneof(
        withInsertion(identifier(120), fc.constantFrom("\u0000", "/", "\n")),
        withLookalike(identifier(120)),
        fc.tuple(fc.integer({ min: 0, max: 9 }), identifier(100)).map(([d, r]) => `${d}${r}`),
      );
      fc.assert(
        fc.property(bad, (value) => {
          expect(caught(() => validateSelfId(value))?.message).toBe(
            `self ID ${JSON.stringify(value)} ${PATTERN}`,
          );
        }),
        RUNS,
      );
    });
  });
});
