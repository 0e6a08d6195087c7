import { mkdtemp, rm, writeFile } from "node:fs/promises";
import * as http2 from "node:http2";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { createClient } from "@connectrpc/connect";
import { connectNodeAdapter, createConnectTransport } from "@connectrpc/connect-node";
import { PluginControl } from "@cpg/protocol";
import { createTestPki, listenOnFreePort, type TestPki, type TestServer } from "@cpg/test-utils";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AuthError, isAuthError } from "./auth-error.js";
import { createAuthInterceptor } from "./auth-interceptor.js";
import { mtlsAuthenticator } from "./mtls-authenticator.js";
import { peerCertificateContextValues } from "./node-peer-certificate.js";
import {
  createTlsClientOptions,
  loadTlsClientOptions,
  type TlsClientCredentials,
} from "./node-tls-client-options.js";
import { createWhoAmIRoutes } from "./test-service.js";

let pki: TestPki;
let dir: string;
let server: TestServer;

beforeAll(async () => {
  pki = await createTestPki();
  dir = await mkdtemp(join(tmpdir(), "cpg-auth-tls-"));
  await writeFile(join(dir, "client.pem"), pki.clients.cnOnly.cert);
  await writeFile(join(dir, "client-key.pem"), pki.clients.cnOnly.key);
  await writeFile(join(dir, "ca.pem"), pki.ca.cert);
  server = await listenOnFreePort(
    http2.createSecureServer(
      { ...pki.server, ca: pki.ca.cert, requestCert: true, allowHTTP1: true },
      connectNodeAdapter({
        routes: createWhoAmIRoutes().routes,
        interceptors: [createAuthInterceptor({ authenticators: [mtlsAuthenticator()] })],
        contextValues: peerCertificateContextValues,
      }),
    ),
  );
});

afterAll(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

async function rejection(promise: Promise<unknown>): Promise<AuthError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!isAuthError(error, "invalid_options")) throw new Error(`unexpected: ${String(error)}`);
  return error;
}

describe("loadTlsClientOptions", () => {
  it("loads PEM files (paths or file URLs) into options connect-node transports accept", async () => {
    const tls = await loadTlsClientOptions({
      certFile: join(dir, "client.pem"),
      keyFile: pathToFileURL(join(dir, "client-key.pem")),
      caFile: join(dir, "ca.pem"),
      servername: "localhost",
    });
    expect(tls).toEqual({
      cert: pki.clients.cnOnly.cert,
      key: pki.clients.cnOnly.key,
      ca: pki.ca.cert,
      servername: "localhost",
    });
    for (const httpVersion of ["1.1", "2"] as const) {
      const transport = createConnectTransport({
        baseUrl: server.url,
        httpVersion,
        nodeOptions: tls,
      });
      const res = await createClient(PluginControl, transport).getHealth({});
      expect(res.reason).toBe("mtls:billing-plugin");
    }
  });

  it("names a file it cannot read", async () => {
    const missing = join(dir, "missing.pem");
    const error = await rejection(loadTlsClientOptions({ caFile: missing }));
    expect(error.message).toBe(`TLS client options: cannot read caFile ${missing}`);
    expect((error.cause as NodeJS.ErrnoException).code).toBe("ENOENT");
  });
});

describe("createTlsClientOptions", () => {
  it("accepts a CA alone (server authentication only)", () => {
    expect(createTlsClientOptions({ ca: pki.ca.cert })).toEqual({ ca: pki.ca.cert });
  });

  it.each<[string, () => TlsClientCredentials, string]>([
    ["nothing", () => ({}), "give a client certificate (cert and key), a ca, or both"],
    [
      "a cert without key",
      () => ({ cert: pki.clients.cnOnly.cert }),
      "cert and key go together: give both or neither",
    ],
    [
      "a key from another certificate",
      () => ({ cert: pki.clients.cnOnly.cert, key: pki.clients.spiffe.key }),
      "key does not belong to cert",
    ],
    [
      "a garbage certificate",
      () => ({ cert: "not a cert", key: pki.clients.cnOnly.key }),
      "cert is not a PEM certificate",
    ],
    [
      "a garbage key",
      () => ({ cert: pki.clients.cnOnly.cert, key: "not a key" }),
      "key is not an unencrypted PEM private key",
    ],
    [
      "a CA without certificates",
      () => ({ ca: pki.clients.cnOnly.key }),
      "ca holds no PEM certificate",
    ],
    [
      "an IP address as servername",
      () => ({ ca: pki.ca.cert, servername: "127.0.0.1" }),
      "servername must be a DNS name; omit it when connecting by IP address",
    ],
  ])("refuses %s", (_name, credentials, message) => {
    let error: unknown;
    try {
      createTlsClientOptions(credentials());
    } catch (e) {
      error = e;
    }
    expect(isAuthError(error, "invalid_options")).toBe(true);
    expect((error as Error).message).toBe(`TLS client options: ${message}`);
  });
});
