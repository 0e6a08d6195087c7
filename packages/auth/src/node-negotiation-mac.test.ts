import { describe, expect, it } from "vitest";
import { negotiationMac } from "./node-negotiation-mac.js";

const fields = {
  runtimeToken: "token-0123456789",
  coreProtocolVersion: 1,
  appProtocolVersion: 2,
  supportedAppProtocolVersions: [1, 2],
  nonce: "nonce-0123456789abcdef",
  runtimeId: "kv-0123456789abcdef",
};

describe("negotiationMac", () => {
  it("is stable for the same fields", () => {
    expect(negotiationMac(fields)).toBe(negotiationMac({ ...fields }));
    expect(negotiationMac(fields)).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it.each([
    ["a downgraded app version", { appProtocolVersion: 1 }],
    ["a trimmed version list", { supportedAppProtocolVersions: [1] }],
    ["another nonce", { nonce: "nonce-fedcba9876543210" }],
    ["another runtime id", { runtimeId: "kv-fedcba9876543210" }],
    ["another token", { runtimeToken: "token-9876543210" }],
  ])("changes with %s", (_, change) => {
    expect(negotiationMac({ ...fields, ...change })).not.toBe(negotiationMac(fields));
  });
});
