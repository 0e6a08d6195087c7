import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { validateEndpointPath } from "./endpoint-path.js";
import {
  bytesOf,
  caught,
  describeError,
  RUNS,
  textWithoutNul,
  withInsertion,
} from "./test-arbitraries.js";

const validPath = textWithoutNul(255).map((s) => `/${s}`);

describe("validateEndpointPath", () => {
  it.each(["/", "/logger.v1.Logger/", "/api/kv.v1.KVService/", `/${"x".repeat(255)}`])(
    "accepts %j",
    (value) => {
      expect(() => validateEndpointPath(value)).not.toThrow();
    },
  );

  it.each([
    ["", "endpoint path must not be empty", "empty", undefined],
    ["logger.v1.Logger/", 'endpoint path must start with "/"', "invalid_format", undefined],
    ["http://x/", 'endpoint path must start with "/"', "invalid_format", undefined],
    [`/${"x".repeat(256)}`, "endpoint path too long: 257 bytes (max: 256)", "too_long", 256],
    [`/${"é".repeat(128)}`, "endpoint path too long: 257 bytes (max: 256)", "too_long", 256],
    ["/a\u0000b", "endpoint path contains a NUL byte", "forbidden_character", undefined],
  ])("rejects %j", (value, message, code, limit) => {
    expect(describeError(caught(() => validateEndpointPath(value)))).toEqual({
      message,
      field: "endpoint_path",
      code,
      limit,
    });
  });

  it("uses the configured limit", () => {
    expect(() => validateEndpointPath("/abc", { limits: { maxEndpointPathBytes: 3 } })).toThrow(
      "endpoint path too long: 4 bytes (max: 3)",
    );
  });

  describe("properties", () => {
    it("accepts every path starting with / of at most 256 bytes without NUL", () => {
      fc.assert(
        fc.property(validPath, (value) => {
          expect(caught(() => validateEndpointPath(value))).toBeUndefined();
        }),
        RUNS,
      );
    });

    it("rejects paths with a NUL byte", () => {
      fc.assert(
        fc.property(withInsertion(validPath, fc.constant("\u0000"), 1), (value) => {
          const error = caught(() => validateEndpointPath(value));
          expect(error?.message).toBe(
            bytesOf(value) > 256
              ? `endpoint path too long: ${bytesOf(value)} bytes (max: 256)`
              : "endpoint path contains a NUL byte",
          );
        }),
        RUNS,
      );
    });

    it("rejects paths that do not start with /", () => {
      fc.assert(
        fc.property(
          fc.string({ minLength: 1, maxLength: 300 }).filter((s) => !s.startsWith("/")),
          (value) => {
            expect(caught(() => validateEndpointPath(value))?.message).toBe(
              'endpoint path must start with "/"',
            );
          },
        ),
        RUNS,
      );
    });

    it("rejects overlong paths with their byte count", () => {
      fc.assert(
        fc.property(fc.string({ unit: "grapheme", minLength: 256, maxLength: 600 }), (s) => {
          const value = `/${s.replaceAll("\u0000", "")}`;
          fc.pre(bytesOf(value) > 256);
          expect(caught(() => validateEndpointPath(value))?.message).toBe(
            `endpoint path too long: ${bytesOf(value)} bytes (max: 256)`,
          );
        }),
        RUNS,
      );
    });
  });
});
