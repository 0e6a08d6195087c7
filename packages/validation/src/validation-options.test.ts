import { describe, expect, it } from "vitest";
import { validateServiceType } from "./service-type.js";
import { DEFAULT_VALIDATION_LIMITS } from "./validation-limits.js";
import { resolveValidationOptions } from "./validation-options.js";

describe("DEFAULT_VALIDATION_LIMITS", () => {
  it("has the wire contract's values", () => {
    expect(DEFAULT_VALIDATION_LIMITS).toEqual({
      maxServiceTypeBytes: 128,
      maxSelfIdBytes: 128,
      maxVersionBytes: 64,
      maxVersionRangeBytes: 256,
      maxEndpointPathBytes: 256,
      maxMetadataEntries: 100,
      maxMetadataKeyBytes: 256,
      maxMetadataValueBytes: 4096,
      maxBaseUrlBytes: 2048,
      maxCapabilityTypeBytes: 128,
      maxGrantReasonBytes: 1024,
      maxHealthReasonBytes: 1024,
      maxDependencies: 100,
      maxRegistrationIdBytes: 128,
      maxRequestedPlugins: 100,
      maxRequestedPluginBytes: 128,
    });
    expect(Object.isFrozen(DEFAULT_VALIDATION_LIMITS)).toBe(true);
  });
});

describe("resolveValidationOptions", () => {
  it("applies defaults", () => {
    const resolved = resolveValidationOptions(undefined);
    expect(resolved.limits).toEqual(DEFAULT_VALIDATION_LIMITS);
    expect(resolved.allowedHosts).toBeUndefined();
    expect(resolved.allows).toBeUndefined();
  });

  it("overrides only the given limits, in a new object", () => {
    const limits = { maxServiceTypeBytes: 10 };
    const options = { limits };
    const resolved = resolveValidationOptions(options);
    expect(resolved.limits.maxServiceTypeBytes).toBe(10);
    expect(resolved.limits.maxSelfIdBytes).toBe(128);
    expect(options).toEqual({ limits: { maxServiceTypeBytes: 10 } });
    expect(resolved.limits).not.toBe(limits);
    expect(Object.isFrozen(resolved)).toBe(true);
    expect(Object.isFrozen(resolved.limits)).toBe(true);
  });

  it("never mutates the caller's options", () => {
    const allowedHosts = ["plugins.internal"];
    const options = Object.freeze({
      limits: Object.freeze({ maxMetadataEntries: 5 }),
      allowedHosts: Object.freeze(allowedHosts),
    });
    const resolved = resolveValidationOptions(options);
    expect(resolved.allowedHosts).toEqual(["plugins.internal"]);
    expect(resolved.allowedHosts).not.toBe(allowedHosts);
  });

  it("returns already-resolved options as they are", () => {
    const resolved = resolveValidationOptions({ limits: { maxServiceTypeBytes: 3 } });
    expect(resolveValidationOptions(resolved)).toBe(resolved);
    expect(() => validateServiceType("abcd", resolved)).toThrow(
      "service type too long: 4 bytes (max: 3)",
    );
  });

  it("ignores limits given as undefined", () => {
    const resolved = resolveValidationOptions({ limits: { maxServiceTypeBytes: undefined } });
    expect(resolved.limits.maxServiceTypeBytes).toBe(128);
  });

  it("allows a limit of 0", () => {
    const resolved = resolveValidationOptions({ limits: { maxMetadataEntries: 0 } });
    expect(resolved.limits.maxMetadataEntries).toBe(0);
  });

  it.each([
    [
      { limits: { maxServiceTypeBytes: -1 } },
      "validation limit maxServiceTypeBytes must be a non-negative integer, got -1",
    ],
    [
      { limits: { maxServiceTypeBytes: 1.5 } },
      "validation limit maxServiceTypeBytes must be a non-negative integer, got 1.5",
    ],
    [
      { limits: { maxServiceTypeBytes: Number.NaN } },
      "validation limit maxServiceTypeBytes must be a non-negative integer, got NaN",
    ],
    [
      { limits: { maxServiceTypeBytes: "10" } },
      "validation limit maxServiceTypeBytes must be a non-negative integer, got 10",
    ],
    [
      { limits: { maxServiceTypeByte: 10 } },
      /^unknown validation limit "maxServiceTypeByte"; known limits: maxServiceTypeBytes, /,
    ],
    [{ limits: 5 }, "validation option limits must be an object, e.g. { maxMetadataEntries: 50 }"],
    [
      { allowedHosts: "10.0.0.0/8" },
      'validation option allowedHosts must be an array, e.g. ["plugins.internal", "10.0.0.0/8"]',
    ],
    [
      { allowedHosts: ["http://x"] },
      /^allowedHosts entry "http:\/\/x" is not a host name, IP address or CIDR block/,
    ],
    [null, "validation options must be an object, e.g. { limits: { ... } }"],
  ])("rejects invalid configuration %j", (options, message) => {
    expect(() => resolveValidationOptions(options as never)).toThrow(TypeError);
    expect(() => resolveValidationOptions(options as never)).toThrow(message);
  });
});
