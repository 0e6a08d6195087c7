import { Code } from "@connectrpc/connect";
import { createPlugin, isPluginError, type Plugin, silentLogger } from "@cpg/plugin-sdk";
import { afterEach, describe, expect, it } from "vitest";
import type { Host } from "../host.js";
import {
  handshakeClient,
  handshakeRequest,
  manualClock,
  testHost,
} from "../test-support/test-host.js";

let host: Host;
let plugin: Plugin | undefined;
afterEach(async () => {
  await plugin?.close(0);
  plugin = undefined;
  await host?.close();
});

describe("handshake replay protection (PROTO-CRIT-002)", () => {
  it("refuses a captured handshake sent again", async () => {
    host = testHost();
    const client = handshakeClient(host.createInMemoryTransport());
    const captured = handshakeRequest();
    await client.handshake(captured);
    await expect(client.handshake(captured)).rejects.toMatchObject({
      code: Code.InvalidArgument,
      rawMessage: "handshake nonce was already used: replayed handshake refused",
    });
    expect(host.identities.size).toBe(1);
  });

  it("refuses a handshake whose timestamp is outside the window", async () => {
    const clock = manualClock(Date.now());
    host = testHost({ now: clock.now, handshake: { replayWindowMs: 60_000 } });
    const client = handshakeClient(host.createInMemoryTransport());
    const old = handshakeRequest({ timestampUnixMs: BigInt(clock.now() - 120_000) });
    await expect(client.handshake(old)).rejects.toMatchObject({
      code: Code.InvalidArgument,
      rawMessage: "handshake timestamp is 120 s away from the host's clock (max: 60 s)",
    });
  });

  it("forgets nonces after the window, with a bounded memory", async () => {
    const clock = manualClock(Date.now());
    host = testHost({ now: clock.now, handshake: { replayWindowMs: 1000, maxNonces: 2 } });
    const client = handshakeClient(host.createInMemoryTransport());
    await client.handshake(handshakeRequest({ timestampUnixMs: BigInt(clock.now()) }));
    await client.handshake(handshakeRequest({ timestampUnixMs: BigInt(clock.now()) }));
    await expect(
      client.handshake(handshakeRequest({ timestampUnixMs: BigInt(clock.now()) })),
    ).rejects.toMatchObject({ code: Code.ResourceExhausted });
    clock.advance(1001);
    await client.handshake(handshakeRequest({ timestampUnixMs: BigInt(clock.now()) }));
  });

  it("accepts Go peers (no nonce) under development, and refuses them under production", async () => {
    host = testHost();
    const goStyle = handshakeRequest({ nonce: "", timestampUnixMs: 0n });
    expect(
      (await handshakeClient(host.createInMemoryTransport()).handshake(goStyle)).runtimeId,
    ).not.toBe("");
    await host.close();
    host = testHost({ profile: "production", allowInsecure: true });
    await expect(
      handshakeClient(host.createInMemoryTransport()).handshake(goStyle),
    ).rejects.toMatchObject({
      code: Code.InvalidArgument,
    });
    // cpg plugins send both, so they join a production host.
    expect(
      (await handshakeClient(host.createInMemoryTransport()).handshake(handshakeRequest()))
        .runtimeId,
    ).not.toBe("");
  });
});

describe("version negotiation integrity (PROTO-CRIT-001)", () => {
  it("signs the negotiation so the SDK accepts an untouched answer", async () => {
    host = testHost({ appProtocolVersions: [1, 2] });
    plugin = createPlugin({
      selfId: "p",
      version: "1.0.0",
      appProtocolVersions: [1, 2],
      logger: silentLogger,
    });
    await plugin.joinWith("memory://host", (interceptors) =>
      host.createInMemoryTransport({ interceptors }),
    );
    expect(plugin.credentials?.runtimeId).toMatch(/^p-/);
  });

  it.each([
    [
      "a downgraded version",
      (_m: Record<string, unknown>) => ({ appProtocolVersion: 1 }),
      /protocol downgrade detected/,
    ],
    [
      "a trimmed version list with a re-signed MAC missing",
      (_m: Record<string, unknown>) => ({
        supportedAppProtocolVersions: [1],
        appProtocolVersion: 1,
      }),
      /integrity check/,
    ],
  ])("lets the SDK detect %s in transit", async (_, tamper, message) => {
    host = testHost({ appProtocolVersions: [1, 2] });
    plugin = createPlugin({
      selfId: "p",
      version: "1.0.0",
      appProtocolVersions: [1, 2],
      logger: silentLogger,
    });
    const error = await plugin
      .joinWith("memory://host", (interceptors) =>
        host.createInMemoryTransport({
          interceptors: [
            ...interceptors,
            // A man in the middle rewriting the handshake answer.
            (next) => async (req) => {
              const res = await next(req);
              if (!res.stream && req.method.name === "Handshake") {
                Object.assign(
                  res.message,
                  tamper(res.message as unknown as Record<string, unknown>),
                );
              }
              return res;
            },
          ],
        }),
      )
      .catch((e: unknown) => e);
    expect(isPluginError(error) && error.code).toBe("join_failed");
    expect((error as Error).message).toMatch(message);
  });
});
