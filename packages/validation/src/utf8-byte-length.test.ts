import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { utf8ByteLength } from "./utf8-byte-length.js";

describe("utf8ByteLength", () => {
  it.each([
    ["", 0],
    ["abc", 3],
    ["\u0000", 1],
    ["é", 2],
    ["а", 2], // Cyrillic a
    ["€", 3],
    ["😀", 4],
    ["\ud800", 3], // lone high surrogate
    ["\udc00", 3], // lone low surrogate
    ["\ud800x", 4],
  ])("counts %j as %i bytes", (value, expected) => {
    expect(utf8ByteLength(value)).toBe(expected);
  });

  it("agrees with TextEncoder for any string", () => {
    const encoder = new TextEncoder();
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ unit: "binary" }),
          fc.string({ unit: fc.nat(0xffff).map((c) => String.fromCharCode(c)) }),
        ),
        (value) => {
          expect(utf8ByteLength(value)).toBe(encoder.encode(value).length);
        },
      ),
      { numRuns: 1000 },
    );
  });
});
