import { HealthState } from "@cpg/protocol";
import { describe, expect, it } from "vitest";
import { changeKey, decodeChange, type StateChange } from "./state-change.js";

const runtime = {
  runtimeId: "billing-00ff",
  selfId: "billing",
  selfVersion: "1.2.0",
  token: "t".repeat(43),
  expiresAt: 1_700_000_000_000,
  managed: false,
  peerIdentity: undefined,
  requires: ["logger"],
};
const registration = {
  id: "reg-1",
  runtimeId: "billing-00ff",
  selfId: "billing",
  serviceType: "billing",
  version: "1.2.0",
  endpointPath: "/billing.v1.Billing/",
  metadata: { base_url: "http://10.0.0.7:8081" },
  baseUrl: "http://10.0.0.7:8081",
  http2: false,
  registeredAt: 1_700_000_000_000,
};

describe("state changes", () => {
  it("survive the trip through the change stream", () => {
    const changes: StateChange[] = [
      { kind: "runtime.put", runtime },
      { kind: "runtime.del", runtimeId: "billing-00ff" },
      { kind: "runtime.expired", runtimeId: "billing-00ff" },
      { kind: "registration.put", registration },
      { kind: "registration.del", registrationId: "reg-1", runtimeId: "billing-00ff" },
      {
        kind: "health.put",
        runtimeId: "billing-00ff",
        health: {
          state: HealthState.DEGRADED,
          reason: "slow disk",
          unavailableDependencies: ["logger"],
          reportedAt: 5,
        },
      },
      {
        kind: "grant.put",
        grant: {
          grantId: "grant-1",
          token: "g".repeat(43),
          capabilityType: "logger",
          runtimeId: "billing-00ff",
          selfId: "billing",
          reason: "logs",
          expiresAt: 9,
        },
      },
      { kind: "grant.del", grantId: "grant-1" },
    ];
    for (const change of changes) {
      expect(decodeChange(JSON.stringify(change))).toEqual(change);
    }
    expect(changes.map(changeKey)).toEqual([
      "runtime:billing-00ff",
      "runtime:billing-00ff",
      "runtime:billing-00ff",
      "registration:reg-1",
      "registration:reg-1",
      "health:billing-00ff",
      "grant:grant-1",
      "grant:grant-1",
    ]);
  });

  it("are refused when malformed, naming the field", () => {
    expect(() => decodeChange("[]")).toThrow(/JSON object/);
    expect(() => decodeChange('{"kind":"runtime.nuke"}')).toThrow(/unknown change kind/);
    expect(() =>
      decodeChange(JSON.stringify({ kind: "runtime.put", runtime: { ...runtime, token: 5 } })),
    ).toThrow(/field token must be a string/);
    expect(() =>
      decodeChange(
        JSON.stringify({
          kind: "registration.put",
          registration: { ...registration, metadata: { base_url: 1 } },
        }),
      ),
    ).toThrow(/metadata base_url must be a string/);
    expect(() => decodeChange("{")).toThrow(SyntaxError);
  });
});
