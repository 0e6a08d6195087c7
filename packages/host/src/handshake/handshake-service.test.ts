import { Code, ConnectError } from "@connectrpc/connect";
import { SERVER_VERSION_METADATA_KEY } from "@cpg/protocol";
import { afterEach, describe, expect, it } from "vitest";
import type { Host } from "../host.js";
import {
  handshakeClient,
  handshakeRequest,
  runtimeHeaders,
  testHost,
} from "../test-support/test-host.js";

let host: Host;
afterEach(() => host?.close());

async function expectCode(promise: Promise<unknown>, code: Code, message: string) {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => ConnectError.from(e),
  );
  expect(error, "the call should fail").toBeDefined();
  expect(Code[error!.code]).toBe(Code[code]);
  expect(error!.rawMessage).toBe(message);
}

describe("HandshakeService", () => {
  it("issues a runtime identity to a named plugin", async () => {
    host = testHost();
    const client = handshakeClient(host.createInMemoryTransport());
    const res = await client.handshake(handshakeRequest({ selfId: "KV-Store" }));
    expect(res.coreProtocolVersion).toBe(1);
    expect(res.appProtocolVersion).toBe(1);
    expect(res.runtimeId).toMatch(/^kv-store-[0-9a-f]{16}$/);
    expect(Buffer.from(res.runtimeToken, "base64url").length).toBe(32);
    expect(res.serverMetadata[SERVER_VERSION_METADATA_KEY]).toBe("0.1.0");
    expect(host.identities.verify(res.runtimeId, res.runtimeToken)?.selfId).toBe("KV-Store");
  });

  it("issues no identity without self_id (Go clients that only negotiate)", async () => {
    host = testHost();
    const res = await handshakeClient(host.createInMemoryTransport()).handshake(
      handshakeRequest({ selfId: "" }),
    );
    expect(res.runtimeId).toBe("");
    expect(res.runtimeToken).toBe("");
    expect(host.identities.size).toBe(0);
  });

  it("gives every handshake a distinct runtime id", async () => {
    host = testHost();
    const client = handshakeClient(host.createInMemoryTransport());
    const ids = new Set<string>();
    for (let i = 0; i < 50; i++) ids.add((await client.handshake(handshakeRequest())).runtimeId);
    expect(ids.size).toBe(50);
  });

  it("checks the magic cookie first", async () => {
    host = testHost();
    const client = handshakeClient(host.createInMemoryTransport());
    await expectCode(
      client.handshake(
        handshakeRequest({ magicCookieValue: "wrong", coreProtocolVersion: 9, selfId: "1bad" }),
      ),
      Code.InvalidArgument,
      "magic cookie mismatch: this is a cpg plugin host; set the magic cookie the host expects",
    );
    await expectCode(
      client.handshake(handshakeRequest({ magicCookieKey: "OTHER" })),
      Code.InvalidArgument,
      "magic cookie mismatch: this is a cpg plugin host; set the magic cookie the host expects",
    );
  });

  it("then the core protocol version", async () => {
    host = testHost();
    await expectCode(
      handshakeClient(host.createInMemoryTransport()).handshake(
        handshakeRequest({ coreProtocolVersion: 2, appProtocolVersion: 7, selfId: "1bad" }),
      ),
      Code.InvalidArgument,
      "unsupported core protocol version 2 (supported: 1)",
    );
  });

  it("then the app protocol version", async () => {
    host = testHost();
    await expectCode(
      handshakeClient(host.createInMemoryTransport()).handshake(
        handshakeRequest({ appProtocolVersion: 7, selfId: "1bad" }),
      ),
      Code.FailedPrecondition,
      "no common app protocol version: plugin offers [7], host supports [1]",
    );
  });

  it("then self_id", async () => {
    host = testHost();
    await expectCode(
      handshakeClient(host.createInMemoryTransport()).handshake(
        handshakeRequest({ selfId: "1bad" }),
      ),
      Code.InvalidArgument,
      'self ID "1bad" must start with a letter and contain only letters, digits, "_", ".", "-"',
    );
  });

  it("negotiates the highest common app protocol version", async () => {
    host = testHost({ appProtocolVersions: [1, 2, 3] });
    const client = handshakeClient(host.createInMemoryTransport());
    const res = await client.handshake(handshakeRequest({ appProtocolVersions: [2, 3, 4] }));
    expect(res.appProtocolVersion).toBe(3);
    expect(res.supportedAppProtocolVersions).toEqual([1, 2, 3]);
    // A Go plugin offering one version keeps working.
    const go = await client.handshake(handshakeRequest({ appProtocolVersion: 2 }));
    expect(go.appProtocolVersion).toBe(2);
  });

  it("rotates the token of a plugin that handshakes with its identity", async () => {
    host = testHost();
    const client = handshakeClient(host.createInMemoryTransport());
    const first = await client.handshake(handshakeRequest());
    const second = await client.handshake(handshakeRequest(), {
      headers: runtimeHeaders(first.runtimeId, first.runtimeToken),
    });
    expect(second.runtimeId).toBe(first.runtimeId);
    expect(second.runtimeToken).not.toBe(first.runtimeToken);
    expect(host.identities.verify(first.runtimeId, first.runtimeToken)).toBeUndefined();
    expect(host.identities.verify(first.runtimeId, second.runtimeToken)).toBeDefined();
  });

  it("refuses a handshake that presents a wrong token", async () => {
    host = testHost();
    const client = handshakeClient(host.createInMemoryTransport());
    const first = await client.handshake(handshakeRequest());
    await expect(
      client.handshake(handshakeRequest(), { headers: runtimeHeaders(first.runtimeId, "forged") }),
    ).rejects.toMatchObject({ code: Code.Unauthenticated });
  });
});
