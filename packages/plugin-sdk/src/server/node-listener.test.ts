import type * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";
import type * as tls from "node:tls";
import {
  Code,
  ConnectError,
  createClient,
  createContextKey,
  createContextValues,
  type Transport,
} from "@connectrpc/connect";
import {
  connectNodeAdapter,
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
} from "@connectrpc/connect-node";
import { createTestPki, type TestPki } from "@cpg/test-utils";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { KVService } from "../test-support/kv-service.js";
import { listen, type NodeListener } from "./node-listener.js";

// What the server saw of the request that carried a call.
const seen = createContextKey({ httpVersion: "", remoteAddress: "", remotePort: 0 });

interface Gate {
  /** Resolves when a call reached the handler. */
  readonly entered: Promise<void>;
  /** Resolves when the test lets the call answer. */
  readonly released: Promise<void>;
  enter(): void;
  release(): void;
}

function createGate(): Gate {
  let enter!: () => void;
  let release!: () => void;
  const entered = new Promise<void>((resolve) => {
    enter = resolve;
  });
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  return { entered, released, enter, release };
}

// KVService whose Get answers "<http version> <remote address>" (found: the
// remote port is known) and, for the key "slow", waits for the test to
// release it.
function testHandler(gate?: Gate) {
  return connectNodeAdapter({
    routes(router) {
      router.service(KVService, {
        async get(req, ctx) {
          if (req.key === "slow" && gate) {
            gate.enter();
            await gate.released;
          }
          const s = ctx.values.get(seen);
          return { value: `${s.httpVersion} ${s.remoteAddress}`, found: s.remotePort > 0 };
        },
        put() {
          return {};
        },
      });
    },
    contextValues(req: http.IncomingMessage | http2.Http2ServerRequest) {
      return createContextValues().set(seen, {
        httpVersion: req.httpVersion,
        remoteAddress: req.socket.remoteAddress ?? "",
        remotePort: req.socket.remotePort ?? 0,
      });
    },
  });
}

const listeners: NodeListener[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  await Promise.all(listeners.splice(0).map((l) => l.close(0)));
});

async function start(gate?: Gate, tls?: Parameters<typeof listen>[1]["tls"]) {
  const listener = await listen(testHandler(gate), {
    host: "127.0.0.1",
    port: 0,
    ...(tls ? { tls } : {}),
  });
  listeners.push(listener);
  return listener;
}

const get = (transport: Transport, key = "k") => createClient(KVService, transport).get({ key });

describe("listen (plaintext)", () => {
  it("binds 127.0.0.1 on a free port and reports its URL", async () => {
    const listener = await start();
    expect(listener.port).toBeGreaterThan(0);
    expect(listener.url).toBe(`http://127.0.0.1:${listener.port}`);
  });

  it.each([
    [
      "Connect binary over HTTP/1.1",
      (url: string) =>
        createConnectTransport({ baseUrl: url, httpVersion: "1.1", useBinaryFormat: true }),
      "1.1",
    ],
    [
      "Connect JSON over HTTP/1.1",
      (url: string) => createConnectTransport({ baseUrl: url, httpVersion: "1.1" }),
      "1.1",
    ],
    [
      "Connect binary over h2c",
      (url: string) =>
        createConnectTransport({ baseUrl: url, httpVersion: "2", useBinaryFormat: true }),
      "2.0",
    ],
    ["gRPC over h2c", (url: string) => createGrpcTransport({ baseUrl: url }), "2.0"],
    [
      "gRPC-Web over HTTP/1.1",
      (url: string) =>
        createGrpcWebTransport({ baseUrl: url, httpVersion: "1.1", useBinaryFormat: true }),
      "1.1",
    ],
    [
      "gRPC-Web over h2c",
      (url: string) => createGrpcWebTransport({ baseUrl: url, httpVersion: "2" }),
      "2.0",
    ],
  ])("serves %s on the one port", async (_, transport, httpVersion) => {
    const listener = await start();
    const res = await get(transport(listener.url));
    // The request's socket reports the real client address, also on h2c where
    // the session reads from a replaying stream rather than the socket.
    expect(res.value).toBe(`${httpVersion} 127.0.0.1`);
    expect(res.found).toBe(true);
  });

  it("gives h2c requests the client's real address, port and family", async () => {
    let address: { remoteAddress?: string; remotePort?: number; remoteFamily?: string } = {};
    const listener = await listen(
      (req, res) => {
        address = {
          remoteAddress: req.socket.remoteAddress,
          remotePort: req.socket.remotePort,
          remoteFamily: req.socket.remoteFamily,
        };
        res.writeHead(204);
        res.end();
      },
      { host: "127.0.0.1", port: 0 },
    );
    listeners.push(listener);
    const session = http2.connect(listener.url);
    try {
      const localPort = await new Promise<number>((resolve, reject) => {
        session.once("connect", (_s, socket) => resolve((socket as net.Socket).localPort!));
        session.once("error", reject);
      });
      const status = await new Promise<number>((resolve, reject) => {
        const stream = session.request({ ":path": "/anything" });
        stream.once("response", (headers) => resolve(Number(headers[":status"])));
        stream.once("error", reject);
        stream.end();
      });
      expect(status).toBe(204);
      expect(address).toEqual({
        remoteAddress: "127.0.0.1",
        remotePort: localPort,
        remoteFamily: "IPv4",
      });
    } finally {
      session.destroy();
    }
  });

  it.each([
    ["HTTP/1.1", "1.1" as const],
    ["h2c", "2" as const],
  ])(
    "close(graceMs) lets an in-flight unary call over %s finish, then closes",
    async (_, httpVersion) => {
      const gate = createGate();
      const listener = await start(gate);
      const call = get(
        createConnectTransport({ baseUrl: listener.url, httpVersion, useBinaryFormat: true }),
        "slow",
      );
      await gate.entered;
      let closed = false;
      const closing = listener.close(10_000).then(() => {
        closed = true;
      });
      // The call is still running, so close() has not finished.
      await new Promise((resolve) => setImmediate(resolve));
      expect(closed).toBe(false);
      gate.release();
      expect((await call).value).toBe(`${httpVersion === "2" ? "2.0" : "1.1"} 127.0.0.1`);
      await closing;
      // Nothing listens any more.
      await expect(connectOnce(listener.port)).rejects.toMatchObject({ code: "ECONNREFUSED" });
    },
  );

  it("close(graceMs) cuts a call still running after graceMs", async () => {
    const gate = createGate();
    const listener = await start(gate);
    const call = get(
      createConnectTransport({ baseUrl: listener.url, httpVersion: "1.1", useBinaryFormat: true }),
      "slow",
    );
    await gate.entered;
    await listener.close(20);
    const error = await call.then(
      () => undefined,
      (e: unknown) => ConnectError.from(e),
    );
    gate.release();
    // The client sees the connection reset under it.
    expect(error?.code).toBe(Code.Aborted);
    expect(error?.rawMessage).toBe("socket hang up");
  });

  it("stopAccepting refuses new connections while open calls go on", async () => {
    const gate = createGate();
    const listener = await start(gate);
    const call = get(
      createConnectTransport({ baseUrl: listener.url, httpVersion: "1.1", useBinaryFormat: true }),
      "slow",
    );
    await gate.entered;
    await listener.stopAccepting();
    await expect(connectOnce(listener.port)).rejects.toMatchObject({ code: "ECONNREFUSED" });
    gate.release();
    expect((await call).value).toBe("1.1 127.0.0.1");
  });

  it("stopAccepting sends GOAWAY on HTTP/2 sessions while their open streams finish", async () => {
    const gate = createGate();
    const listener = await start(gate);
    const session = http2.connect(listener.url);
    try {
      const goaway = new Promise<void>((resolve) => session.once("goaway", () => resolve()));
      const transport = createConnectTransport({
        baseUrl: listener.url,
        httpVersion: "2",
        useBinaryFormat: true,
      });
      const call = get(transport, "slow");
      await gate.entered;
      // Make sure the raw session is established before the listener stops.
      await new Promise<void>((resolve, reject) => {
        if (session.connecting) {
          session.once("connect", () => resolve());
          session.once("error", reject);
        } else resolve();
      });
      await listener.stopAccepting();
      await goaway;
      gate.release();
      expect((await call).value).toBe("2.0 127.0.0.1");
    } finally {
      session.destroy();
    }
  });
});

describe("cancellation", () => {
  it.each([
    ["gRPC over h2c", (url: string) => createGrpcTransport({ baseUrl: url })],
    [
      "Connect over HTTP/1.1",
      (url: string) =>
        createConnectTransport({ baseUrl: url, httpVersion: "1.1", useBinaryFormat: true }),
    ],
  ])("a caller going away ends the handler's server stream (%s)", async (_, transport) => {
    // connect-node logs the write that fails once the caller is gone.
    const logged = vi.spyOn(console, "error").mockImplementation(() => {});
    const ended: number[] = [];
    const listener = await listen(
      connectNodeAdapter({
        routes(router) {
          router.service(KVService, {
            async *watch(_req, ctx) {
              let i = 0;
              try {
                for (; i < 1_000_000 && !ctx.signal.aborted; i++) yield { value: String(i) };
              } finally {
                ended.push(i);
              }
            },
          });
        },
      }),
      { host: "127.0.0.1", port: 0 },
    );
    listeners.push(listener);
    const abort = new AbortController();
    const client = createClient(KVService, transport(listener.url));
    let received = 0;
    const error = await (async () => {
      for await (const _ of client.watch({ key: "k" }, { signal: abort.signal })) {
        if (++received === 10) abort.abort();
      }
    })().then(
      () => undefined,
      (e: unknown) => ConnectError.from(e),
    );
    expect(error?.code).toBe(Code.Canceled);
    await expect.poll(() => ended.length, { timeout: 5000 }).toBe(1);
    expect(ended[0]).toBeLessThan(1_000_000);
    expect(logged.mock.calls.every(([m]) => String(m).includes("failed"))).toBe(true);
  });
});

describe("listen (TLS)", () => {
  let pki: TestPki;
  beforeAll(async () => {
    pki = await createTestPki();
  });

  it.each([
    ["HTTP/2", "2" as const, "2.0"],
    ["HTTP/1.1", "1.1" as const, "1.1"],
  ])("negotiates %s through ALPN on the one port", async (_, httpVersion, seenVersion) => {
    const listener = await start(undefined, { cert: pki.server.cert, key: pki.server.key });
    expect(listener.url).toBe(`https://127.0.0.1:${listener.port}`);
    const transport = createConnectTransport({
      baseUrl: listener.url,
      httpVersion,
      useBinaryFormat: true,
      nodeOptions: { ca: pki.ca.cert },
    });
    expect((await get(transport)).value).toBe(`${seenVersion} 127.0.0.1`);
  });

  it("serves gRPC over TLS", async () => {
    const listener = await start(undefined, { cert: pki.server.cert, key: pki.server.key });
    const transport = createGrpcTransport({
      baseUrl: listener.url,
      nodeOptions: { ca: pki.ca.cert },
    });
    expect((await get(transport)).value).toBe("2.0 127.0.0.1");
  });

  it('with clientAuth "require", serves clients with a certificate and refuses others', async () => {
    const listener = await start(undefined, {
      cert: pki.server.cert,
      key: pki.server.key,
      ca: pki.ca.cert,
      clientAuth: "require",
    });
    for (const httpVersion of ["2", "1.1"] as const) {
      const transport = createConnectTransport({
        baseUrl: listener.url,
        httpVersion,
        useBinaryFormat: true,
        nodeOptions: {
          ca: pki.ca.cert,
          cert: pki.clients.cnOnly.cert,
          key: pki.clients.cnOnly.key,
        },
      });
      expect((await get(transport)).found).toBe(true);
    }
    const anonymous = createConnectTransport({
      baseUrl: listener.url,
      httpVersion: "1.1",
      useBinaryFormat: true,
      nodeOptions: { ca: pki.ca.cert },
    });
    // The TLS handshake fails with the "certificate required" alert.
    const error = await get(anonymous).then(
      () => undefined,
      (e: unknown) => ConnectError.from(e),
    );
    expect(error?.code).toBe(Code.Internal);
    expect(error?.rawMessage).toMatch(/alert certificate required/);
  });

  it("close(graceMs) lets an in-flight unary call over TLS HTTP/1.1 finish", async () => {
    const gate = createGate();
    const listener = await start(gate, { cert: pki.server.cert, key: pki.server.key });
    const call = get(
      createConnectTransport({
        baseUrl: listener.url,
        httpVersion: "1.1",
        useBinaryFormat: true,
        nodeOptions: { ca: pki.ca.cert },
      }),
      "slow",
    );
    await gate.entered;
    const closing = listener.close(10_000);
    gate.release();
    expect((await call).value).toBe("1.1 127.0.0.1");
    await closing;
  });
});

function connectOnce(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve();
    });
    socket.once("error", reject);
  });
}

describe("listen with an HTTP/2 connection acceptor", () => {
  let pki: TestPki;
  beforeAll(async () => {
    pki = await createTestPki();
  });

  /** An acceptor that records each socket and what it reads first. */
  function recordingAcceptor() {
    const accepted: Array<{ socket: net.Socket; first: Promise<Buffer>; closed: boolean }> = [];
    const acceptor = (socket: net.Socket) => {
      const entry = {
        socket,
        closed: false,
        first: new Promise<Buffer>((resolve) => socket.once("data", resolve)),
      };
      accepted.push(entry);
      return {
        close() {
          entry.closed = true;
        },
        destroy() {
          socket.destroy();
        },
      };
    };
    return { accepted, acceptor };
  }

  it("hands h2c connections to the acceptor, preface unread, and HTTP/1.1 ones to the handler", async () => {
    const { accepted, acceptor } = recordingAcceptor();
    const listener = await listen(testHandler(), { host: "127.0.0.1", port: 0, http2: acceptor });
    listeners.push(listener);
    const h1 = createConnectTransport({
      baseUrl: listener.url,
      httpVersion: "1.1",
      useBinaryFormat: true,
    });
    expect((await get(h1)).value).toBe("1.1 127.0.0.1");
    expect(accepted).toHaveLength(0);
    const client = http2.connect(listener.url);
    client.on("error", () => {});
    try {
      await new Promise<void>((resolve) => {
        const wait = setInterval(() => {
          if (accepted.length === 1) {
            clearInterval(wait);
            resolve();
          }
        }, 5);
      });
      const first = await accepted[0]!.first;
      expect(first.subarray(0, 24).toString("latin1")).toBe("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
      await listener.stopAccepting();
      expect(accepted[0]!.closed).toBe(true);
    } finally {
      client.destroy();
    }
  });

  it("hands TLS connections that chose ALPN h2 to the acceptor, and http/1.1 ones to the handler", async () => {
    const { accepted, acceptor } = recordingAcceptor();
    const listener = await listen(testHandler(), {
      host: "127.0.0.1",
      port: 0,
      tls: { cert: pki.server.cert, key: pki.server.key },
      http2: acceptor,
    });
    listeners.push(listener);
    const h1 = createConnectTransport({
      baseUrl: listener.url,
      httpVersion: "1.1",
      useBinaryFormat: true,
      nodeOptions: { ca: pki.ca.cert },
    });
    expect((await get(h1)).value).toBe("1.1 127.0.0.1");
    expect(accepted).toHaveLength(0);
    const client = http2.connect(listener.url, { ca: pki.ca.cert });
    client.on("error", () => {});
    try {
      await new Promise<void>((resolve) => {
        const wait = setInterval(() => {
          if (accepted.length === 1) {
            clearInterval(wait);
            resolve();
          }
        }, 5);
      });
      const socket = accepted[0]!.socket as tls.TLSSocket;
      expect(socket.alpnProtocol).toBe("h2");
      expect((await accepted[0]!.first).subarray(0, 3).toString()).toBe("PRI");
    } finally {
      client.destroy();
    }
  });
});
