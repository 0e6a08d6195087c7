import { Code, createClient } from "@connectrpc/connect";
import { createEventStream } from "@cpg/plugin-sdk/internal";
import { HealthState, PluginLifecycle } from "@cpg/protocol";
import { afterEach, describe, expect, it } from "vitest";
import type { HostEvent } from "../events/host-event.js";
import type { Host } from "../host.js";
import {
  handshakeClient,
  handshakeRequest,
  manualClock,
  runtimeHeaders,
  testHost,
} from "../test-support/test-host.js";
import { createRuntimeIdentities } from "./runtime-identities.js";

let host: Host;
afterEach(() => host?.close());

const HOUR = 60 * 60 * 1000;

describe("runtime identities", () => {
  it("expire after the token TTL (default 24 h)", async () => {
    const clock = manualClock();
    host = testHost({ now: clock.now });
    const events: HostEvent[] = [];
    host.events.subscribe((e) => events.push(e));
    const res = await handshakeClient(host.createInMemoryTransport()).handshake(handshakeRequest());
    expect(Number(res.runtimeTokenExpiresUnixMs)).toBe(clock.now() + 24 * HOUR);
    clock.advance(24 * HOUR - 1);
    expect(host.identities.verify(res.runtimeId, res.runtimeToken)).toBeDefined();
    clock.advance(1);
    expect(host.identities.verify(res.runtimeId, res.runtimeToken)).toBeUndefined();
    expect(events.filter((e) => e.type === "runtime.ended")).toEqual([
      { type: "runtime.ended", runtimeId: res.runtimeId, reason: "expired" },
    ]);
  });

  it("honour a configured TTL and are swept in the background", async () => {
    const clock = manualClock();
    host = testHost({ now: clock.now, runtimeTokenTtlMs: 1000 });
    const res = await handshakeClient(host.createInMemoryTransport()).handshake(handshakeRequest());
    clock.advance(1000);
    host.identities.sweep();
    expect(host.identities.size).toBe(0);
    expect(host.identities.get(res.runtimeId)).toBeUndefined();
  });

  it("are refused by host APIs once expired", async () => {
    const clock = manualClock();
    host = testHost({ now: clock.now, runtimeTokenTtlMs: 1000 });
    const transport = host.createInMemoryTransport();
    const res = await handshakeClient(transport).handshake(handshakeRequest());
    const lifecycle = createClient(PluginLifecycle, transport);
    const headers = runtimeHeaders(res.runtimeId, res.runtimeToken);
    await lifecycle.reportHealth({ state: HealthState.HEALTHY }, { headers });
    clock.advance(1000);
    await expect(
      lifecycle.reportHealth({ state: HealthState.HEALTHY }, { headers }),
    ).rejects.toMatchObject({ code: Code.Unauthenticated });
  });

  it("can be refreshed before expiry, keeping the runtime id", async () => {
    const clock = manualClock();
    host = testHost({ now: clock.now, runtimeTokenTtlMs: 10_000 });
    const client = handshakeClient(host.createInMemoryTransport());
    const first = await client.handshake(handshakeRequest());
    clock.advance(8000);
    const refreshed = await client.handshake(handshakeRequest(), {
      headers: runtimeHeaders(first.runtimeId, first.runtimeToken),
    });
    expect(refreshed.runtimeId).toBe(first.runtimeId);
    expect(Number(refreshed.runtimeTokenExpiresUnixMs)).toBe(clock.now() + 10_000);
    clock.advance(5000);
    expect(host.identities.verify(first.runtimeId, refreshed.runtimeToken)).toBeDefined();
  });

  it("can be revoked, which ends host API access at once", async () => {
    host = testHost();
    const transport = host.createInMemoryTransport();
    const res = await handshakeClient(transport).handshake(handshakeRequest());
    const events: HostEvent[] = [];
    host.events.subscribe((e) => events.push(e));
    expect(host.identities.revoke(res.runtimeId)).toBe(true);
    expect(events).toEqual([
      { type: "runtime.ended", runtimeId: res.runtimeId, reason: "revoked" },
    ]);
    await expect(
      createClient(PluginLifecycle, transport).reportHealth(
        { state: HealthState.HEALTHY },
        { headers: runtimeHeaders(res.runtimeId, res.runtimeToken) },
      ),
    ).rejects.toMatchObject({ code: Code.Unauthenticated });
  });

  it("are bounded in number", async () => {
    host = testHost({ maxRuntimes: 2 });
    const client = handshakeClient(host.createInMemoryTransport());
    await client.handshake(handshakeRequest());
    await client.handshake(handshakeRequest());
    await expect(client.handshake(handshakeRequest())).rejects.toMatchObject({
      code: Code.ResourceExhausted,
    });
  });
});

describe("createRuntimeIdentities().verify", () => {
  function setup() {
    const clock = manualClock();
    const identities = createRuntimeIdentities({
      ttlMs: 1000,
      maxEntries: 10,
      now: clock.now,
      events: createEventStream<HostEvent>(),
      sweepIntervalMs: 0,
    });
    return { identities, clock };
  }

  it("returns every fact of the identity for its current token", async () => {
    const { identities, clock } = setup();
    const issued = await identities.issue({
      selfId: "KV",
      selfVersion: "1.2.0",
      managed: true,
      peerIdentity: "spiffe://cpg.test/kv",
      requires: ["cache.v1.Cache"],
    });
    const expected = {
      runtimeId: issued.runtimeId,
      selfId: "KV",
      selfVersion: "1.2.0",
      token: issued.token,
      expiresAt: clock.now() + 1000,
      managed: true,
      peerIdentity: "spiffe://cpg.test/kv",
      requires: ["cache.v1.Cache"],
    };
    expect(issued).toEqual(expected);
    // The token as a header parser hands it over: an equal string, not the stored one.
    expect(identities.verify(issued.runtimeId, Array.from(issued.token).join(""))).toEqual(
      expected,
    );
    const plain = await identities.issue({ selfId: "plain" });
    expect(identities.verify(plain.runtimeId, plain.token)).toEqual({
      runtimeId: plain.runtimeId,
      selfId: "plain",
      selfVersion: "",
      token: plain.token,
      expiresAt: plain.expiresAt,
      managed: false,
      peerIdentity: undefined,
      requires: [],
    });
    identities.close();
  });

  it("rejects a token wrong in one character, of another length or of another runtime", async () => {
    const { identities } = setup();
    const a = await identities.issue({ selfId: "a" });
    const b = await identities.issue({ selfId: "b" });
    const last = a.token.length - 1;
    for (const i of [0, 21, last]) {
      const wrong = `${a.token.slice(0, i)}${a.token[i] === "A" ? "B" : "A"}${a.token.slice(i + 1)}`;
      expect(identities.verify(a.runtimeId, wrong)).toBeUndefined();
    }
    expect(identities.verify(a.runtimeId, a.token.slice(0, last))).toBeUndefined();
    expect(identities.verify(a.runtimeId, `${a.token}=`)).toBeUndefined();
    expect(identities.verify(a.runtimeId, "")).toBeUndefined();
    expect(identities.verify(a.runtimeId, b.token)).toBeUndefined();
    expect(identities.verify("unknown", a.token)).toBeUndefined();
    expect(identities.verify(a.runtimeId, a.token)?.selfId).toBe("a");
    identities.close();
  });

  it("rejects the right token once it is refreshed, revoked or expired", async () => {
    const { identities, clock } = setup();
    const refreshed = await identities.issue({ selfId: "refreshed" });
    const revoked = await identities.issue({ selfId: "revoked" });
    const expiring = await identities.issue({ selfId: "expiring" });
    const renewed = await identities.refresh(refreshed.runtimeId);
    expect(identities.verify(refreshed.runtimeId, refreshed.token)).toBeUndefined();
    expect(identities.verify(refreshed.runtimeId, renewed.token)?.token).toBe(renewed.token);
    expect(identities.revoke(revoked.runtimeId)).toBe(true);
    expect(identities.verify(revoked.runtimeId, revoked.token)).toBeUndefined();
    clock.advance(999);
    expect(identities.verify(expiring.runtimeId, expiring.token)).toBeDefined();
    clock.advance(1);
    expect(identities.verify(expiring.runtimeId, expiring.token)).toBeUndefined();
    identities.close();
  });

  it("answers every check with the one frozen identity of the token", async () => {
    const { identities } = setup();
    const issued = await identities.issue({ selfId: "kv", requires: ["cache.v1.Cache"] });
    const first = identities.verify(issued.runtimeId, issued.token);
    expect(first).toBe(identities.verify(issued.runtimeId, issued.token));
    expect(first).toBe(identities.get(issued.runtimeId));
    expect(Object.isFrozen(first)).toBe(true);
    identities.close();
    expect(identities.verify(issued.runtimeId, issued.token)).toBeUndefined();
  });

  it("follows identities restored from another replica: new token, new expiry, expiry by sweep", async () => {
    const events = createEventStream<HostEvent>();
    const ended: string[] = [];
    events.subscribe((event) => {
      if (event.type === "runtime.ended") ended.push(`${event.runtimeId}:${event.reason}`);
    });
    const clock = manualClock();
    const identities = createRuntimeIdentities({
      ttlMs: 1000,
      maxEntries: 10,
      now: clock.now,
      events,
      sweepIntervalMs: 0,
    });
    const issued = await identities.issue({ selfId: "kv" });
    const { runtimeId } = issued;

    // Another replica refreshed the token.
    identities.restore({ ...issued, token: "t".repeat(43), expiresAt: issued.expiresAt + 500 });
    expect(identities.verify(runtimeId, issued.token)).toBeUndefined();
    expect(identities.verify(runtimeId, "t".repeat(43))?.expiresAt).toBe(issued.expiresAt + 500);

    // The same token with a later expiry.
    identities.restore({ ...issued, token: "t".repeat(43), expiresAt: issued.expiresAt + 900 });
    clock.advance(1200);
    expect(identities.verify(runtimeId, "t".repeat(43))?.expiresAt).toBe(issued.expiresAt + 900);

    // An identity known only from another replica, then expired and swept.
    identities.restore({
      ...issued,
      runtimeId: "kv-0123456789abcdef",
      token: "u".repeat(43),
      expiresAt: clock.now() + 300,
    });
    expect(identities.verify("kv-0123456789abcdef", "u".repeat(43))?.selfId).toBe("kv");
    clock.advance(500);
    identities.sweep();
    expect(identities.verify("kv-0123456789abcdef", "u".repeat(43))).toBeUndefined();
    expect(ended).toEqual(["kv-0123456789abcdef:expired"]);
    // The first identity expires when checked.
    expect(identities.verify(runtimeId, "t".repeat(43))).toBeDefined();
    clock.advance(200);
    expect(identities.verify(runtimeId, "t".repeat(43))).toBeUndefined();
    expect(ended).toEqual(["kv-0123456789abcdef:expired", `${runtimeId}:expired`]);
    expect(identities.size).toBe(0);
    identities.close();
  });
});
