import { createClient } from "@connectrpc/connect";
import {
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
} from "@connectrpc/connect-node";
import { grpcHealthV1, HandshakeService, pluginHealthV1 } from "@cpg/protocol";
import { createTestPki, type TestPki } from "@cpg/test-utils";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Host } from "../host.js";
import { handshakeRequest, testHost } from "../test-support/test-host.js";

describe("one port, every protocol (plaintext)", () => {
  let host: Host;
  let url: string;
  beforeAll(async () => {
    host = testHost();
    ({ url } = await host.listen());
  });
  afterAll(() => host.close());

  it.each([
    [
      "Connect binary over HTTP/1.1 (as a Go client)",
      () => createConnectTransport({ baseUrl: url, httpVersion: "1.1", useBinaryFormat: true }),
    ],
    [
      "Connect JSON over HTTP/1.1",
      () => createConnectTransport({ baseUrl: url, httpVersion: "1.1" }),
    ],
    [
      "Connect binary over h2c",
      () => createConnectTransport({ baseUrl: url, httpVersion: "2", useBinaryFormat: true }),
    ],
    ["gRPC over h2c", () => createGrpcTransport({ baseUrl: url })],
    [
      "gRPC-Web over HTTP/1.1",
      () => createGrpcWebTransport({ baseUrl: url, httpVersion: "1.1", useBinaryFormat: true }),
    ],
  ])("completes a handshake with %s", async (_, transport) => {
    const res = await createClient(HandshakeService, transport()).handshake(handshakeRequest());
    expect(res.runtimeId).toMatch(/^test-plugin-/);
    expect(host.identities.verify(res.runtimeId, res.runtimeToken)).toBeDefined();
  });

  it("answers a raw Go-style POST with application/proto", async () => {
    const body = new Uint8Array(
      // HandshakeRequest{core=1, app=1, cookie key/value}, hand-encoded.
      Buffer.concat([
        Buffer.from([0x08, 0x01, 0x10, 0x01]),
        Buffer.from([0x1a, 14]),
        Buffer.from("CONNECT_PLUGIN"),
        Buffer.from([0x22, 32]),
        Buffer.from("d3f40b3c2e1a5f8b9c4d7e6a1b2c3d4e"),
      ]),
    );
    const res = await fetch(`${url}/connectplugin.v1.HandshakeService/Handshake`, {
      method: "POST",
      headers: { "content-type": "application/proto", "connect-protocol-version": "1" },
      body,
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/proto");
    // Field 1 (core_protocol_version) = 1 comes first.
    expect([...new Uint8Array(await res.arrayBuffer()).slice(0, 2)]).toEqual([0x08, 0x01]);
  });

  it("serves the health services and plain probes", async () => {
    const transport = createGrpcTransport({ baseUrl: url });
    const grpc = await createClient(grpcHealthV1.Health, transport).check({ service: "" });
    expect(grpc.status).toBe(grpcHealthV1.HealthCheckResponse_ServingStatus.SERVING);
    const plugin = await createClient(pluginHealthV1.HealthService, transport).check({
      service: "connectplugin.v1.HandshakeService",
    });
    expect(plugin.status).toBe(pluginHealthV1.ServingStatus.SERVING);
    const list = await createClient(grpcHealthV1.Health, transport).list({});
    expect(Object.keys(list.statuses)).toContain("grpc.health.v1.Health");
    await expect(
      createClient(grpcHealthV1.Health, transport).check({ service: "nope" }),
    ).rejects.toMatchObject({ rawMessage: 'unknown service "nope"' });
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    const ready = await fetch(`${url}/readyz`);
    expect([ready.status, await ready.text()]).toEqual([200, "ready\n"]);
  });

  it("streams health changes to watchers and reports NOT_SERVING on close", async () => {
    const watchHost = testHost();
    const { url: watchUrl } = await watchHost.listen();
    const stream = createClient(
      grpcHealthV1.Health,
      createGrpcTransport({ baseUrl: watchUrl }),
    ).watch({
      service: "",
    });
    const seen: number[] = [];
    const done = (async () => {
      for await (const res of stream) {
        seen.push(res.status);
        if (seen.length === 1) void watchHost.close();
      }
    })();
    await done.catch(() => {});
    expect(seen).toEqual([
      grpcHealthV1.HealthCheckResponse_ServingStatus.SERVING,
      grpcHealthV1.HealthCheckResponse_ServingStatus.NOT_SERVING,
    ]);
  });
});

describe("TLS and mTLS", () => {
  let pki: TestPki;
  beforeAll(async () => {
    pki = await createTestPki();
  });

  it("serves HTTP/2 and HTTP/1.1 over TLS on one port (ALPN)", async () => {
    const host = testHost({ tls: { cert: pki.server.cert, key: pki.server.key } });
    const { url } = await host.listen();
    try {
      expect(url).toMatch(/^https:\/\/127\.0\.0\.1:/);
      for (const httpVersion of ["2", "1.1"] as const) {
        const transport = createConnectTransport({
          baseUrl: url,
          httpVersion,
          useBinaryFormat: true,
          nodeOptions: { ca: pki.ca.cert },
        });
        const res = await createClient(HandshakeService, transport).handshake(handshakeRequest());
        expect(res.runtimeToken).not.toBe("");
      }
      const grpc = createGrpcTransport({ baseUrl: url, nodeOptions: { ca: pki.ca.cert } });
      expect(
        (await createClient(HandshakeService, grpc).handshake(handshakeRequest())).runtimeId,
      ).not.toBe("");
    } finally {
      await host.close();
    }
  });

  it("with mTLS, binds the runtime identity to the client certificate identity", async () => {
    const host = testHost({
      tls: { cert: pki.server.cert, key: pki.server.key, ca: pki.ca.cert, clientAuth: "require" },
    });
    const { url } = await host.listen();
    try {
      for (const httpVersion of ["2", "1.1"] as const) {
        const transport = createConnectTransport({
          baseUrl: url,
          httpVersion,
          useBinaryFormat: true,
          nodeOptions: {
            ca: pki.ca.cert,
            cert: pki.clients.spiffe.cert,
            key: pki.clients.spiffe.key,
          },
        });
        const res = await createClient(HandshakeService, transport).handshake(handshakeRequest());
        expect(host.identities.get(res.runtimeId)?.peerIdentity).toBe(
          "spiffe://example.org/plugin/billing",
        );
      }
      const anonymous = createConnectTransport({
        baseUrl: url,
        httpVersion: "1.1",
        nodeOptions: { ca: pki.ca.cert },
      });
      await expect(
        createClient(HandshakeService, anonymous).handshake(handshakeRequest()),
      ).rejects.toThrow();
    } finally {
      await host.close();
    }
  });
});
