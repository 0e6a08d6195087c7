import { Code, createClient } from "@connectrpc/connect";
import { HealthState, PluginLifecycle, RUNTIME_ID_HEADER } from "@cpg/protocol";
import { afterEach, describe, expect, it } from "vitest";
import type { HostEvent } from "../events/host-event.js";
import type { Host } from "../host.js";
import {
  handshakeClient,
  handshakeRequest,
  runtimeHeaders,
  testHost,
} from "../test-support/test-host.js";

let host: Host;
afterEach(() => host?.close());

describe("PluginLifecycle.ReportHealth", () => {
  it("records the health of the calling runtime and emits one event per change", async () => {
    host = testHost();
    const transport = host.createInMemoryTransport();
    const id = await handshakeClient(transport).handshake(handshakeRequest());
    const events: HostEvent[] = [];
    host.events.subscribe((e) => events.push(e));
    const lifecycle = createClient(PluginLifecycle, transport);
    const headers = runtimeHeaders(id.runtimeId, id.runtimeToken);
    await lifecycle.reportHealth({ state: HealthState.HEALTHY }, { headers });
    await lifecycle.reportHealth({ state: HealthState.HEALTHY }, { headers });
    await lifecycle.reportHealth(
      { state: HealthState.DEGRADED, reason: "kv missing", unavailableDependencies: ["kv"] },
      { headers },
    );
    expect(host.health.get(id.runtimeId)).toMatchObject({
      state: HealthState.DEGRADED,
      reason: "kv missing",
      unavailableDependencies: ["kv"],
    });
    const changes = events.flatMap((e) =>
      e.type === "health.changed" ? [[e.previous, e.state]] : [],
    );
    expect(changes).toEqual([
      [HealthState.UNSPECIFIED, HealthState.HEALTHY],
      [HealthState.HEALTHY, HealthState.DEGRADED],
    ]);
  });

  it.each([
    ["no credentials", new Headers()],
    ["a token without runtime id", new Headers({ authorization: "Bearer abc" })],
    ["a runtime id without token", new Headers({ [RUNTIME_ID_HEADER]: "x-1" })],
    [
      "a malformed authorization header",
      new Headers({ [RUNTIME_ID_HEADER]: "x-1", authorization: "Token abc" }),
    ],
  ])("is refused with %s", async (_, headers) => {
    host = testHost();
    await expect(
      createClient(PluginLifecycle, host.createInMemoryTransport()).reportHealth(
        { state: HealthState.HEALTHY },
        { headers },
      ),
    ).rejects.toMatchObject({ code: Code.Unauthenticated });
  });

  it("is refused with another runtime's token", async () => {
    host = testHost();
    const transport = host.createInMemoryTransport();
    const a = await handshakeClient(transport).handshake(handshakeRequest({ selfId: "a" }));
    const b = await handshakeClient(transport).handshake(handshakeRequest({ selfId: "b" }));
    await expect(
      createClient(PluginLifecycle, transport).reportHealth(
        { state: HealthState.UNHEALTHY },
        { headers: runtimeHeaders(a.runtimeId, b.runtimeToken) },
      ),
    ).rejects.toMatchObject({ code: Code.Unauthenticated });
    expect(host.health.get(a.runtimeId)).toBeUndefined();
  });

  it("forgets the health of a runtime whose identity ended", async () => {
    host = testHost();
    const transport = host.createInMemoryTransport();
    const id = await handshakeClient(transport).handshake(handshakeRequest());
    await createClient(PluginLifecycle, transport).reportHealth(
      { state: HealthState.HEALTHY },
      { headers: runtimeHeaders(id.runtimeId, id.runtimeToken) },
    );
    host.identities.revoke(id.runtimeId);
    expect(host.health.get(id.runtimeId)).toBeUndefined();
  });
});
