import { describe, expect, it } from "vitest";
import { BASE62, shortCode } from "./short-code.js";

describe("shortCode", () => {
  it("draws base62 codes of the requested length", () => {
    expect(BASE62).toHaveLength(62);
    expect(new Set(BASE62).size).toBe(62);
    expect(shortCode()).toMatch(/^[0-9A-Za-z]{7}$/);
    expect(shortCode(12)).toMatch(/^[0-9A-Za-z]{12}$/);
    const codes = new Set(Array.from({ length: 1000 }, () => shortCode()));
    expect(codes.size).toBe(1000);
  });

  it("refuses lengths outside 1 to 32", () => {
    expect(() => shortCode(0)).toThrow("length must be an integer from 1 to 32, got 0");
    expect(() => shortCode(33)).toThrow("length must be an integer from 1 to 32, got 33");
  });
});
