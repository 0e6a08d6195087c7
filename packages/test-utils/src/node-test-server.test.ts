import * as http from "node:http";
import * as http2 from "node:http2";
import * as https from "node:https";
import type { TLSSocket } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { listenOnFreePort, type TestServer } from "./node-test-server.js";
import { createTestPki, type TestPki } from "./test-pki.js";
import { waitForEvent } from "./wait-for.js";

let pki: TestPki;
beforeAll(async () => {
  pki = await createTestPki();
});

/** Answers with the peer certificate's CN and whether TLS verified it. */
function whoAmI(
  req: http.IncomingMessage | http2.Http2ServerRequest,
  res: http.ServerResponse | http2.Http2ServerResponse,
): void {
  const socket = req.socket as TLSSocket;
  const peer =
    typeof socket.getPeerCertificate === "function" ? socket.getPeerCertificate() : undefined;
  res.end(JSON.stringify({ cn: peer?.subject?.CN ?? null, authorized: socket.authorized ?? null }));
}

function http2Get(session: http2.ClientHttp2Session): Promise<string> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ":path": "/" });
    let body = "";
    stream.setEncoding("utf8");
    stream.on("data", (chunk: string) => {
      body += chunk;
    });
    stream.on("end", () => resolve(body));
    stream.on("error", reject);
  });
}

function http1Get(url: string, options: https.RequestOptions): Promise<string> {
  return new Promise((resolve, reject) => {
    const get = url.startsWith("https:") ? https.get : http.get;
    get(url, options, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        body += chunk;
      });
      res.on("end", () => resolve(body));
    }).on("error", reject);
  });
}

describe("listenOnFreePort", () => {
  const servers: TestServer[] = [];
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.close()));
  });

  it("closes an HTTP/1.1 server while a keep-alive connection is open", async () => {
    const running = await listenOnFreePort(http.createServer(whoAmI));
    servers.push(running);
    expect(running.url).toBe(`http://127.0.0.1:${running.port}`);
    expect(running.port).toBeGreaterThan(0);
    const agent = new http.Agent({ keepAlive: true });
    expect(await http1Get(running.url, { agent })).toBe('{"cn":null,"authorized":null}');
    await running.close();
    expect(running.server.listening).toBe(false);
    await running.close(); // idempotent
    agent.destroy();
  });

  it("closes an HTTP/2 TLS server while a client session is open, and exposes the peer certificate", async () => {
    const running = await listenOnFreePort(
      http2.createSecureServer(
        { ...pki.server, ca: pki.ca.cert, requestCert: true, rejectUnauthorized: false },
        whoAmI,
      ),
    );
    servers.push(running);
    expect(running.url).toBe(`https://127.0.0.1:${running.port}`);
    const session = http2.connect(running.url, { ca: pki.ca.cert, ...pki.clients.cnOnly });
    const sessionClosed = waitForEvent(session, "close");
    expect(await http2Get(session)).toBe('{"cn":"billing-plugin","authorized":true}');
    await running.close();
    await sessionClosed;
    expect(running.server.listening).toBe(false);
  });

  it("serves HTTP/1.1 on an HTTP/2 server with allowHTTP1 and reports unverified clients", async () => {
    const running = await listenOnFreePort(
      http2.createSecureServer(
        {
          ...pki.server,
          ca: pki.ca.cert,
          requestCert: true,
          rejectUnauthorized: false,
          allowHTTP1: true,
        },
        whoAmI,
      ),
    );
    servers.push(running);
    const agent = new https.Agent({ keepAlive: true, ca: pki.ca.cert, ...pki.clients.otherCa });
    expect(await http1Get(running.url, { agent })).toBe('{"cn":"intruder","authorized":false}');
    await running.close();
    agent.destroy();
  });

  it("closes an h2c server with an open session", async () => {
    const running = await listenOnFreePort(http2.createServer(whoAmI));
    servers.push(running);
    expect(running.url).toBe(`http://127.0.0.1:${running.port}`);
    const session = http2.connect(running.url);
    const sessionClosed = waitForEvent(session, "close");
    expect(await http2Get(session)).toBe('{"cn":null,"authorized":null}');
    await running.close();
    await sessionClosed;
  });
});
