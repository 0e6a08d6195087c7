import { describe, expect, it } from "vitest";
import { isRateLimitError, RateLimitError } from "./rate-limit-error.js";

describe("RateLimitError", () => {
  it("keeps code, message and cause", () => {
    const cause = new Error("ECONNREFUSED");
    const error = new RateLimitError("store_unavailable", "Redis down", { cause });
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe("RateLimitError");
    expect(error.code).toBe("store_unavailable");
    expect(error.message).toBe("Redis down");
    expect(error.cause).toBe(cause);
    expect(isRateLimitError(error)).toBe(true);
  });

  it("recognises errors from another copy of the package by brand", () => {
    const brand = Symbol.for("@cpg/ratelimit/RateLimitError");
    class OtherCopy extends Error {
      readonly code = "store_timeout";
      readonly [brand] = true;
    }
    expect(isRateLimitError(new OtherCopy("x"))).toBe(true);
    expect(isRateLimitError(new Error("x"))).toBe(false);
    expect(isRateLimitError({ code: "store_timeout" })).toBe(false);
    expect(isRateLimitError(null)).toBe(false);
  });
});
