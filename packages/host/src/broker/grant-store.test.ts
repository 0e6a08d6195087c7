import { describe, expect, it } from "vitest";
import { manualClock } from "../test-support/test-host.js";
import type { CapabilityGrant } from "./capability-grant.js";
import { createGrantStore } from "./grant-store.js";

function setup() {
  const clock = manualClock();
  const ended: [string, string][] = [];
  const grants = createGrantStore({
    ttlMs: 1000,
    maxEntries: 10,
    now: clock.now,
    sweepIntervalMs: 0,
    onRemove: (grant, reason) => ended.push([grant.grantId, reason]),
  });
  const issue = (runtimeId = "kv-1", capabilityType = "logger") =>
    grants.issue({ capabilityType, runtimeId, selfId: "kv", reason: "logs" });
  return { grants, clock, ended, issue };
}

/** `token` with the character at `i` changed (same length, same alphabet). */
const differAt = (token: string, i: number) =>
  `${token.slice(0, i)}${token[i] === "A" ? "B" : "A"}${token.slice(i + 1)}`;

describe("createGrantStore", () => {
  it("verifies a grant's token and returns every fact of the grant", () => {
    const { grants, clock, issue } = setup();
    const grant = issue();
    const expected: CapabilityGrant = {
      grantId: grant.grantId,
      token: grant.token,
      capabilityType: "logger",
      runtimeId: "kv-1",
      selfId: "kv",
      reason: "logs",
      expiresAt: clock.now() + 1000,
    };
    expect(grant).toEqual(expected);
    expect(grant.grantId).toMatch(/^grant-[0-9a-f]{24}$/);
    // The token as a header parser hands it over: an equal string, not the stored one.
    expect(grants.verify(grant.grantId, Array.from(grant.token).join(""))).toEqual(expected);
    expect(grants.get(grant.grantId)).toEqual(expected);
    expect(grants.list()).toEqual([expected]);
    grants.close();
  });

  it("rejects a token wrong in one character, of another length or of another grant", () => {
    const { grants, issue } = setup();
    const a = issue();
    const b = issue();
    for (const i of [0, 21, a.token.length - 1]) {
      expect(grants.verify(a.grantId, differAt(a.token, i))).toBeUndefined();
    }
    expect(grants.verify(a.grantId, a.token.slice(1))).toBeUndefined();
    expect(grants.verify(a.grantId, `${a.token}=`)).toBeUndefined();
    expect(grants.verify(a.grantId, b.token)).toBeUndefined();
    expect(grants.verify("grant-unknown", a.token)).toBeUndefined();
    expect(grants.verify(a.grantId, a.token)?.grantId).toBe(a.grantId);
    grants.close();
  });

  it("rejects the right token once the grant is revoked or expired", () => {
    const { grants, clock, ended, issue } = setup();
    const revoked = issue();
    const other = issue("kv-2");
    const expiring = issue("kv-3");
    expect(grants.revoke(revoked.grantId)).toBe(true);
    expect(grants.verify(revoked.grantId, revoked.token)).toBeUndefined();
    expect(grants.revokeRuntime("kv-2")).toBe(1);
    expect(grants.verify(other.grantId, other.token)).toBeUndefined();
    clock.advance(999);
    expect(grants.verify(expiring.grantId, expiring.token)).toBeDefined();
    clock.advance(1);
    expect(grants.verify(expiring.grantId, expiring.token)).toBeUndefined();
    expect(ended).toEqual([
      [revoked.grantId, "revoked"],
      [other.grantId, "revoked"],
      [expiring.grantId, "expired"],
    ]);
    grants.close();
  });
});
