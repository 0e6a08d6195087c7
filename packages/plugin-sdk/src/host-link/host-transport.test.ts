import * as http from "node:http";
import * as http2 from "node:http2";
import type { TLSSocket } from "node:tls";
import {
  Code,
  ConnectError,
  type ConnectRouter,
  createClient,
  createContextKey,
  createContextValues,
  type Interceptor,
} from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { HealthState, PluginControl } from "@cpg/protocol";
import { createTestPki, listenOnFreePort, type TestPki, type TestServer } from "@cpg/test-utils";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { createHostTransport } from "./host-transport.js";

// What the server saw of a request.
interface Seen {
  httpVersion: string;
  contentType: string;
  peerCn: string;
}
const seenKey = createContextKey<Seen>({ httpVersion: "", contentType: "", peerCn: "" });

// PluginControl whose GetHealth answers, in `reason`, how the request arrived.
function routes(router: ConnectRouter) {
  router.service(PluginControl, {
    getHealth(_req, ctx) {
      const seen = ctx.values.get(seenKey);
      return {
        state: HealthState.HEALTHY,
        reason: `${seen.httpVersion} ${seen.contentType} ${seen.peerCn}`.trim(),
      };
    },
  });
}

const adapter = () =>
  connectNodeAdapter({
    routes,
    contextValues(req) {
      const socket = req.socket as TLSSocket;
      const peer =
        typeof socket.getPeerCertificate === "function" ? socket.getPeerCertificate() : undefined;
      return createContextValues().set(seenKey, {
        httpVersion: req.httpVersion,
        contentType: String(req.headers["content-type"] ?? ""),
        peerCn: String(peer?.subject?.CN ?? ""),
      });
    },
  });

const servers: TestServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function serve<S extends http.Server | http2.Http2SecureServer>(server: S) {
  const running = await listenOnFreePort(server);
  servers.push(running);
  return running;
}

describe("createHostTransport over http://", () => {
  it('defaults to "connect": binary protobuf over HTTP/1.1, which an HTTP/1.1-only server (like a Go host) accepts', async () => {
    // http.createServer speaks HTTP/1.1 only: any HTTP/2 attempt would fail.
    const server = await serve(http.createServer(adapter()));
    const client = createClient(PluginControl, createHostTransport({ baseUrl: server.url }));
    const res = await client.getHealth({});
    expect(res.reason).toBe("1.1 application/proto");
  });

  it('"grpc-web" uses binary gRPC-Web over HTTP/1.1', async () => {
    const server = await serve(http.createServer(adapter()));
    const client = createClient(
      PluginControl,
      createHostTransport({ baseUrl: server.url, protocol: "grpc-web" }),
    );
    expect((await client.getHealth({})).reason).toBe("1.1 application/grpc-web+proto");
  });

  it('"grpc" needs HTTP/2, so an HTTP/1.1-only server cannot serve it', async () => {
    const server = await serve(http.createServer(adapter()));
    const client = createClient(
      PluginControl,
      createHostTransport({ baseUrl: server.url, protocol: "grpc" }),
    );
    const error = await client.getHealth({}, { timeoutMs: 2000 }).then(
      () => undefined,
      (e: unknown) => ConnectError.from(e),
    );
    // The HTTP/1.1 server answers the HTTP/2 preface with an HTTP/1.1 error.
    expect([error?.code, error?.rawMessage]).toEqual([Code.Internal, "Protocol error"]);
  });

  it("runs the given interceptors on every call", async () => {
    const server = await serve(http.createServer(adapter()));
    const calls: string[] = [];
    const record: Interceptor = (next) => (req) => {
      calls.push(req.method.name);
      return next(req);
    };
    const client = createClient(
      PluginControl,
      createHostTransport({ baseUrl: server.url, interceptors: [record] }),
    );
    await client.getHealth({});
    expect(calls).toEqual(["GetHealth"]);
  });
});

describe("createHostTransport over https://", () => {
  let pki: TestPki;
  beforeAll(async () => {
    pki = await createTestPki();
  });

  const tlsServer = (requireClientCert: boolean) =>
    serve(
      http2.createSecureServer(
        {
          allowHTTP1: true,
          cert: pki.server.cert,
          key: pki.server.key,
          ca: pki.ca.cert,
          requestCert: requireClientCert,
          rejectUnauthorized: requireClientCert,
        },
        adapter(),
      ),
    );

  it('"connect" uses HTTP/2 and trusts the given CA', async () => {
    const server = await tlsServer(false);
    const client = createClient(
      PluginControl,
      createHostTransport({ baseUrl: server.url, tls: { ca: pki.ca.cert } }),
    );
    expect((await client.getHealth({})).reason).toBe("2.0 application/proto");
  });

  it("presents the client certificate for mTLS", async () => {
    const server = await tlsServer(true);
    const { cert, key } = pki.clients.cnOnly;
    for (const protocol of ["connect", "grpc", "grpc-web"] as const) {
      const client = createClient(
        PluginControl,
        createHostTransport({ baseUrl: server.url, protocol, tls: { ca: pki.ca.cert, cert, key } }),
      );
      expect((await client.getHealth({})).reason).toMatch(/ billing-plugin$/);
    }
  });

  it("does not trust a server outside the given CA", async () => {
    const server = await tlsServer(false);
    const client = createClient(
      PluginControl,
      createHostTransport({ baseUrl: server.url, tls: { ca: pki.otherCa.cert } }),
    );
    const error = await client.getHealth({}).then(
      () => undefined,
      (e: unknown) => ConnectError.from(e),
    );
    expect(error?.code).toBe(Code.Internal);
    expect(error?.rawMessage).toBe("self-signed certificate in certificate chain");
  });

  it("verifies the servername it is told to", async () => {
    const server = await tlsServer(false);
    const client = createClient(
      PluginControl,
      createHostTransport({
        baseUrl: server.url,
        tls: { ca: pki.ca.cert, servername: "localhost" },
      }),
    );
    expect((await client.getHealth({})).state).toBe(HealthState.HEALTHY);
  });
});
