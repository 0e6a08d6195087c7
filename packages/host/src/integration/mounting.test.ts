import * as http2 from "node:http2";
import { Code, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { HandshakeService } from "@cpg/protocol";
import { listenOnFreePort } from "@cpg/test-utils";
import { afterEach, describe, expect, it } from "vitest";
import type { Host } from "../host.js";
import { handshakeRequest, testHost } from "../test-support/test-host.js";

let host: Host | undefined;
afterEach(() => host?.close());

describe("the host handler", () => {
  it("can be mounted in an existing Node server", async () => {
    host = testHost();
    const server = await listenOnFreePort(http2.createServer(host.handler));
    try {
      const res = await createClient(
        HandshakeService,
        createGrpcTransport({ baseUrl: server.url }),
      ).handshake(handshakeRequest());
      expect(host.identities.get(res.runtimeId)).toBeDefined();
    } finally {
      await server.close();
    }
  });

  it("limits the size of request messages (readMaxBytes)", async () => {
    host = testHost({ readMaxBytes: 1024 });
    const { url } = await host.listen();
    const client = createClient(
      HandshakeService,
      createConnectTransport({ baseUrl: url, httpVersion: "1.1", useBinaryFormat: true }),
    );
    await expect(
      client.handshake(handshakeRequest({ clientMetadata: { big: "x".repeat(4000) } })),
    ).rejects.toMatchObject({ code: Code.ResourceExhausted });
    expect((await client.handshake(handshakeRequest())).runtimeId).not.toBe("");
  });
});
