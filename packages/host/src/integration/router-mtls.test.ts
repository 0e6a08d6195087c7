import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import {
  Code,
  ConnectError,
  createClient,
  type Interceptor,
  type Transport,
} from "@connectrpc/connect";
import {
  connectNodeAdapter,
  createConnectTransport,
  createGrpcTransport,
} from "@connectrpc/connect-node";
import { EchoService } from "@cpg/examples-proto";
import { bearer, RUNTIME_ID_HEADER, ServiceRegistry } from "@cpg/protocol";
import { createTestPki, type TestCertificate, type TestPki } from "@cpg/test-utils";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Host } from "../host.js";
import { handshakeClient, handshakeRequest, testHost } from "../test-support/test-host.js";

// Routed calls over mTLS: on HTTP/2 they are served by the host's own
// server (the native path), on HTTP/1.1 by Node's; both must hold a runtime
// token to the client certificate it was issued to.

let pki: TestPki;
let host: Host;
let hostUrl: string;
let provider: http2.Http2Server;
let routeUrl: string;
let caller: { runtimeId: string; runtimeToken: string };

/** TLS options of a client presenting `cert`. */
const withCert = (cert: TestCertificate) => ({ ca: pki.ca.cert, cert: cert.cert, key: cert.key });

/** Sends `who`'s runtime id and token with every call. */
const asRuntime =
  (who: { runtimeId: string; runtimeToken: string }): Interceptor =>
  (next) =>
  (req) => {
    req.header.set(RUNTIME_ID_HEADER, who.runtimeId);
    req.header.set("authorization", bearer(who.runtimeToken));
    return next(req);
  };

/** A transport that authenticates as `who` with the client certificate `cert`. */
function transport(kind: "grpc" | "connect-h1", cert: TestCertificate, who = caller): Transport {
  const interceptors = [asRuntime(who)];
  return kind === "grpc"
    ? createGrpcTransport({ baseUrl: routeUrl, nodeOptions: withCert(cert), interceptors })
    : createConnectTransport({
        baseUrl: routeUrl,
        httpVersion: "1.1",
        useBinaryFormat: true,
        nodeOptions: withCert(cert),
        interceptors,
      });
}

beforeAll(async () => {
  pki = await createTestPki();
  host = testHost({
    tls: { cert: pki.server.cert, key: pki.server.key, ca: pki.ca.cert, clientAuth: "require" },
  });
  ({ url: hostUrl } = await host.listen());
  // An h2c Echo provider.
  provider = http2.createServer(
    connectNodeAdapter({
      routes: (router) =>
        router.service(EchoService, {
          echo: (req) => ({ message: req.message }),
        }),
    }),
  );
  await new Promise<void>((resolve) => provider.listen(0, "127.0.0.1", resolve));
  const providerUrl = `http://127.0.0.1:${(provider.address() as AddressInfo).port}`;

  const handshake = (cert: TestCertificate) =>
    handshakeClient(createGrpcTransport({ baseUrl: hostUrl, nodeOptions: withCert(cert) }));
  const owner = await handshake(pki.clients.dns).handshake(
    handshakeRequest({ selfId: "echo-owner" }),
  );
  await createClient(
    ServiceRegistry,
    createGrpcTransport({
      baseUrl: hostUrl,
      nodeOptions: withCert(pki.clients.dns),
      interceptors: [asRuntime(owner)],
    }),
  ).registerService({
    serviceType: "echo",
    version: "1.0.0",
    endpointPath: "/",
    metadata: { base_url: providerUrl, http2: "true" },
  });
  routeUrl = `${hostUrl}/services/echo/${owner.runtimeId}`;
  // The caller's runtime is bound to its SPIFFE certificate.
  caller = await handshake(pki.clients.spiffe).handshake(
    handshakeRequest({ selfId: "echo-caller", requires: [{ type: "echo" }] }),
  );
  expect(host.identities.get(caller.runtimeId)?.peerIdentity).toBe(
    "spiffe://example.org/plugin/billing",
  );
});

afterAll(async () => {
  await host?.close();
  await new Promise((resolve) => provider?.close(resolve));
});

describe("routed calls over mTLS", () => {
  it.each([
    ["gRPC over HTTP/2 (the host's own server)", "grpc" as const],
    ["Connect over HTTP/1.1 (Node's server)", "connect-h1" as const],
  ])("%s: pass with the certificate the token was issued to", async (_, kind) => {
    const echo = createClient(EchoService, transport(kind, pki.clients.spiffe));
    expect((await echo.echo({ message: "hello" })).message).toBe("hello");
  });

  it.each([
    ["gRPC over HTTP/2 (the host's own server)", "grpc" as const],
    ["Connect over HTTP/1.1 (Node's server)", "connect-h1" as const],
  ])("%s: are refused with another certificate, even a valid one", async (_, kind) => {
    const echo = createClient(EchoService, transport(kind, pki.clients.dns));
    const error = await echo.echo({ message: "stolen token" }).then(
      () => undefined,
      (e: unknown) => ConnectError.from(e),
    );
    expect(error?.code).toBe(Code.Unauthenticated);
    expect(error?.rawMessage).toBe(
      "runtime token presented with another client certificate than the one it was issued to",
    );
  });
});
