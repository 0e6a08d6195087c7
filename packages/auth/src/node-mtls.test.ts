// Integration: real TLS servers on 127.0.0.1 (HTTP/1.1 and HTTP/2), certificates
// generated here, Connect and gRPC clients from connect-node.
import { X509Certificate } from "node:crypto";
import * as http2 from "node:http2";
import * as https from "node:https";
import {
  Code,
  ConnectError,
  type ContextValues,
  createClient,
  createContextKey,
  createContextValues,
  type Interceptor,
  type Transport,
} from "@connectrpc/connect";
import {
  connectNodeAdapter,
  createConnectTransport,
  createGrpcTransport,
} from "@connectrpc/connect-node";
import { bearer, PluginControl, pluginHealthV1, RUNTIME_ID_HEADER } from "@cpg/protocol";
import {
  createTestPki,
  listenOnFreePort,
  TEST_SPIFFE_ID,
  type TestCertificate,
  type TestPki,
  type TestServer,
} from "@cpg/test-utils";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AuthContext, getAuthContext } from "./auth-context.js";
import { createAuthInterceptor } from "./auth-interceptor.js";
import { bearerAuthenticator } from "./bearer-authenticator.js";
import { createMemoryTokenStore } from "./memory-token-store.js";
import { mtlsAuthenticator } from "./mtls-authenticator.js";
import { attachPeerCertificate, peerCertificateContextValues } from "./node-peer-certificate.js";
import { createTlsClientOptions, type TlsClientOptions } from "./node-tls-client-options.js";
import { createWhoAmIRoutes } from "./test-service.js";

let pki: TestPki;
let smuggler: TestCertificate;
const servers: TestServer[] = [];
let h1: TestServer; // https.createServer
let h2: TestServer; // http2.createSecureServer with allowHTTP1
const seen: AuthContext[] = [];

const capture: Interceptor = (next) => (req) => {
  const auth = getAuthContext(req.contextValues);
  if (auth) seen.push(auth);
  return next(req);
};

beforeAll(async () => {
  pki = await createTestPki();
  // A URI SAN whose text contains ", URI:" must stay one (invalid) name.
  smuggler = await pki.ca.issue({
    commonName: "billing-plugin",
    uris: ["spiffe://example.org/a, URI:spiffe://example.org/b"],
  });
  const handler = connectNodeAdapter({
    routes: createWhoAmIRoutes().routes,
    interceptors: [createAuthInterceptor({ authenticators: [mtlsAuthenticator()] }), capture],
    contextValues: peerCertificateContextValues,
  });
  // rejectUnauthorized: false lets the handshake complete for unverified
  // clients, so the authenticator (not the TLS layer) must refuse them.
  const tls = { ...pki.server, ca: pki.ca.cert, requestCert: true, rejectUnauthorized: false };
  h1 = await listenOnFreePort(https.createServer(tls, handler));
  h2 = await listenOnFreePort(http2.createSecureServer({ ...tls, allowHTTP1: true }, handler));
  servers.push(h1, h2);
});

afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

type MakeTransport = (tls: TlsClientOptions) => Transport;
const transports: [string, MakeTransport][] = [
  [
    "Connect, HTTP/1.1, https server",
    (tls) => createConnectTransport({ baseUrl: h1.url, httpVersion: "1.1", nodeOptions: tls }),
  ],
  [
    "Connect, HTTP/1.1, http2 server with allowHTTP1",
    (tls) => createConnectTransport({ baseUrl: h2.url, httpVersion: "1.1", nodeOptions: tls }),
  ],
  [
    "Connect, HTTP/2",
    (tls) => createConnectTransport({ baseUrl: h2.url, httpVersion: "2", nodeOptions: tls }),
  ],
  ["gRPC, HTTP/2", (tls) => createGrpcTransport({ baseUrl: h2.url, nodeOptions: tls })],
];

function clientTls(cert: TestCertificate | undefined): TlsClientOptions {
  return createTlsClientOptions({ ...cert, ca: pki.ca.cert });
}

async function errorOf(promise: Promise<unknown>): Promise<ConnectError> {
  try {
    await promise;
  } catch (error) {
    return ConnectError.from(error);
  }
  throw new Error("expected the call to fail");
}

describe.each(transports)("mTLS over %s", (_name, makeTransport) => {
  const control = (cert: TestCertificate | undefined) =>
    createClient(PluginControl, makeTransport(clientTls(cert)));

  it("identifies a CN-only certificate by its common name", async () => {
    const res = await control(pki.clients.cnOnly).getHealth({});
    expect(res.reason).toBe("mtls:billing-plugin");
  });

  it("identifies a SPIFFE certificate by its SPIFFE ID, with claims", async () => {
    seen.length = 0;
    const res = await control(pki.clients.spiffe).getHealth({});
    expect(res.reason).toBe(`mtls:${TEST_SPIFFE_ID}`);
    const x509 = new X509Certificate(pki.clients.spiffe.cert);
    expect(seen).toEqual([
      {
        identity: TEST_SPIFFE_ID,
        provider: "mtls",
        claims: {
          identitySource: "spiffe",
          spiffeId: TEST_SPIFFE_ID,
          trustDomain: "example.org",
          commonName: "billing-plugin",
          organization: "Example Org",
          fingerprint: x509.fingerprint256.replace(/:/g, "").toLowerCase(),
          serialNumber: x509.serialNumber.toUpperCase(),
          expiresAt: new Date(x509.validTo),
        },
      },
    ]);
  });

  it.each([
    ["two URI SANs", () => pki.clients.twoUris, "invalid credentials"],
    ["a smuggled second URI SAN", () => smuggler, "invalid credentials"],
    ["an expired certificate", () => pki.clients.expired, "invalid credentials"],
    ["a certificate from another CA", () => pki.clients.otherCa, "invalid credentials"],
    ["no certificate", () => undefined, "authentication required"],
  ])("refuses %s with unauthenticated", async (_case, cert, message) => {
    const error = await errorOf(control(cert()).getHealth({}));
    expect(error.code).toBe(Code.Unauthenticated);
    expect(error.rawMessage).toBe(message);
  });

  it("authenticates server-streaming calls", async () => {
    const health = (cert: TestCertificate | undefined) =>
      createClient(pluginHealthV1.HealthService, makeTransport(clientTls(cert)));
    const statuses: pluginHealthV1.ServingStatus[] = [];
    for await (const res of health(pki.clients.spiffe).watch({})) statuses.push(res.status);
    expect(statuses).toEqual([
      pluginHealthV1.ServingStatus.SERVING,
      pluginHealthV1.ServingStatus.SERVING,
    ]);
    const error = await errorOf(
      (async () => {
        for await (const _ of health(pki.clients.otherCa).watch({})) {
          // unreachable
        }
      })(),
    );
    expect(error.code).toBe(Code.Unauthenticated);
  });
});

describe("peer certificate context values", () => {
  it("carry no certificate on a plaintext (h2c) server", async () => {
    const handler = connectNodeAdapter({
      routes: createWhoAmIRoutes().routes,
      interceptors: [createAuthInterceptor({ authenticators: [mtlsAuthenticator()] })],
      contextValues: peerCertificateContextValues,
    });
    const h2c = await listenOnFreePort(http2.createServer(handler));
    servers.push(h2c);
    const client = createClient(
      PluginControl,
      createConnectTransport({ baseUrl: h2c.url, httpVersion: "2" }),
    );
    const error = await errorOf(client.getHealth({}));
    expect(error.code).toBe(Code.Unauthenticated);
    expect(error.rawMessage).toBe("authentication required");
  });

  it("combine with the server's own values, and mTLS combines with runtime tokens", async () => {
    const remoteKey = createContextKey<string>("", { description: "remote address" });
    const store = createMemoryTokenStore({ sweepIntervalMs: 0 });
    const remotes: string[] = [];
    const handler = connectNodeAdapter({
      routes: createWhoAmIRoutes().routes,
      interceptors: [
        createAuthInterceptor({
          authenticators: [
            mtlsAuthenticator(),
            bearerAuthenticator({
              validate: (token, req) => {
                const id = req.header.get(RUNTIME_ID_HEADER) ?? "";
                return store.verify(id, token) ? { identity: id } : undefined;
              },
            }),
          ],
        }),
        (next) => (req) => {
          remotes.push(req.contextValues.get(remoteKey));
          return next(req);
        },
      ],
      contextValues: (req): ContextValues =>
        attachPeerCertificate(
          createContextValues().set(remoteKey, req.socket.remoteAddress ?? ""),
          req,
        ),
    });
    const server = await listenOnFreePort(
      http2.createSecureServer(
        { ...pki.server, ca: pki.ca.cert, requestCert: true, rejectUnauthorized: false },
        handler,
      ),
    );
    servers.push(server);
    const client = (cert: TestCertificate | undefined) =>
      createClient(
        PluginControl,
        createGrpcTransport({ baseUrl: server.url, nodeOptions: clientTls(cert) }),
      );
    const { token } = store.issue("rt-1", undefined);
    const tokenHeaders = { headers: { authorization: bearer(token), [RUNTIME_ID_HEADER]: "rt-1" } };

    expect((await client(undefined).getHealth({}, tokenHeaders)).reason).toBe("token:rt-1");
    expect((await client(pki.clients.cnOnly).getHealth({})).reason).toBe("mtls:billing-plugin");
    // A rejected certificate does not block a valid token, and vice versa.
    expect((await client(pki.clients.otherCa).getHealth({}, tokenHeaders)).reason).toBe(
      "token:rt-1",
    );
    expect(remotes).toEqual(["127.0.0.1", "127.0.0.1", "127.0.0.1"]);
    store.revoke("rt-1");
    const error = await errorOf(client(undefined).getHealth({}, tokenHeaders));
    expect(error.code).toBe(Code.Unauthenticated);
    store.close();
  });
});
