import { describe, expect, it } from "vitest";
import { isHostError } from "../host-error.js";
import { redactStoreUrl, resolveStoreOption } from "./store-options.js";

function configError(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    if (isHostError(error) && error.code === "invalid_config") return error.message;
    throw error;
  }
  throw new Error("expected invalid_config");
}

describe("resolveStoreOption", () => {
  it("keeps state in memory unless a Redis URL is given", () => {
    expect(resolveStoreOption(undefined)).toBeUndefined();
    expect(resolveStoreOption("memory")).toBeUndefined();
  });

  it("applies the documented defaults to a URL", () => {
    expect(resolveStoreOption("redis://10.0.0.5:6379/2")).toEqual({
      url: "redis://10.0.0.5:6379/2",
      keyPrefix: "cpg",
      leaseTtlMs: 30_000,
      maxStaleMs: 30_000,
      commandTimeoutMs: 1_000,
    });
    expect(
      resolveStoreOption({ url: "rediss://r:6380", keyPrefix: "{prod}", leaseTtlMs: 5_000 }),
    ).toMatchObject({ url: "rediss://r:6380", keyPrefix: "{prod}", leaseTtlMs: 5_000 });
  });

  it("names what is wrong", () => {
    expect(configError(() => resolveStoreOption("mysql://db"))).toMatch(
      /must start with redis:\/\/ or rediss:\/\/, got mysql:/,
    );
    expect(configError(() => resolveStoreOption("not a url"))).toMatch(
      /store must be "memory" or a redis:\/\/ or rediss:\/\/ URL, got "not a url"/,
    );
    expect(configError(() => resolveStoreOption({ url: "redis://r", leaseTtlMs: 0 }))).toMatch(
      /store.leaseTtlMs must be a positive integer/,
    );
    expect(configError(() => resolveStoreOption({ url: "redis://r", keyPrefix: "a b" }))).toMatch(
      /store.keyPrefix must be 1 to 64 characters/,
    );
    expect(configError(() => resolveStoreOption({} as never))).toMatch(/store must be "memory"/);
  });

  it("never shows the password of the store URL", () => {
    expect(redactStoreUrl("redis://user:s3cret@redis:6379/0")).toBe(
      "redis://user:***@redis:6379/0",
    );
    expect(redactStoreUrl("redis://redis:6379")).toBe("redis://redis:6379");
  });
});
