import * as http from "node:http";
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { create, toBinary } from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  createClient,
  createContextValues,
  type HandlerContext,
  type Interceptor,
  type Transport,
} from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import {
  EchoServerStreamRequestSchema,
  EchoServerStreamResponseSchema,
  EchoService,
} from "@cpg/examples-proto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { codeName } from "../router/error-response.js";
import { createServerStreamHandler } from "./server-stream-handler.js";

const PATH = "/cpg.examples.v1.EchoService/EchoServerStream";
const READ_MAX_BYTES = 1024;

// The implementation: `count` messages, then per `message`: "fail" throws,
// "hold" waits for its signal. `ended` sees the reason its signal aborted with.
const protocols: string[] = [];
let ended: ((reason: unknown) => void) | undefined;
async function* impl(req: { message: string; count: number }, ctx: HandlerContext) {
  protocols.push(ctx.protocolName);
  ctx.responseHeader.set("x-impl-header", "h");
  ctx.responseTrailer.set("x-impl-trailer", "t");
  try {
    for (let index = 0; index < req.count; index++) {
      yield create(EchoServerStreamResponseSchema, { message: req.message, index });
    }
    if (req.message === "crash") throw new Error("a detail the client must not see");
    if (req.message === "fail") {
      throw new ConnectError("boom after 2", Code.DataLoss, { "x-error-meta": "m" });
    }
    if (req.message === "hold") {
      await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve, { once: true }));
    }
  } finally {
    ended?.(ctx.signal.reason);
  }
}
const nextEnd = () => new Promise<unknown>((resolve) => (ended = resolve));

const interceptors: Interceptor[] = [
  (next) => async (req) => {
    if (req.header.has("x-deny")) throw new ConnectError("no credentials", Code.Unauthenticated);
    const res = await next(req);
    res.header.set("x-interceptor-header", "ih");
    res.trailer.set("x-interceptor-trailer", "it");
    return res;
  },
];

interface Servers {
  readonly h2: string;
  readonly h1: string;
  /** Requests the handler declined, with whether anything had been written. */
  readonly fallback: { method: string; contentType: string; headersSent: boolean }[];
  /** Whether the last request's body had been read when its response finished. */
  lastBodyRead: Promise<boolean>;
  close(): Promise<void>;
}

async function startServers(shutdownSignal?: AbortSignal): Promise<Servers> {
  const handler = createServerStreamHandler({
    method: EchoService.method.echoServerStream,
    impl,
    interceptors,
    contextValues: () => createContextValues(),
    readMaxBytes: READ_MAX_BYTES,
    ...(shutdownSignal ? { shutdownSignal } : {}),
  });
  const servers: Servers = {
    h2: "",
    h1: "",
    fallback: [],
    lastBodyRead: Promise.resolve(false),
    async close() {
      for (const s of sessions) s.destroy();
      h1.closeAllConnections();
      await Promise.all([h2, h1].map((s) => new Promise((resolve) => s.close(resolve))));
    },
  };
  const listener = (
    req: http.IncomingMessage | http2.Http2ServerRequest,
    res: http.ServerResponse | http2.Http2ServerResponse,
  ) => {
    servers.lastBodyRead = new Promise((resolve) =>
      res.prependOnceListener("finish", () => resolve(req.readableDidRead)),
    );
    if (handler(req, res)) return;
    servers.fallback.push({
      method: req.method ?? "",
      contentType: req.headers["content-type"] ?? "",
      headersSent: res.headersSent,
    });
    res.writeHead(418);
    res.end();
  };
  const sessions = new Set<http2.ServerHttp2Session>();
  const h2 = http2.createServer(listener);
  h2.on("session", (s) => {
    sessions.add(s);
    s.once("close", () => sessions.delete(s));
  });
  const h1 = http.createServer(listener);
  const url = (s: http2.Http2Server | http.Server) =>
    `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
  await Promise.all(
    [h2, h1].map((s) => new Promise<void>((resolve) => s.listen(0, "127.0.0.1", resolve))),
  );
  return Object.assign(servers, { h2: url(h2), h1: url(h1) });
}

const transports = {
  grpc: (s: Servers) => createGrpcTransport({ baseUrl: s.h2 }),
  "connect http/2": (s: Servers) =>
    createConnectTransport({ baseUrl: s.h2, httpVersion: "2", useBinaryFormat: true }),
  "connect http/1.1": (s: Servers) =>
    createConnectTransport({ baseUrl: s.h1, httpVersion: "1.1", useBinaryFormat: true }),
} satisfies Record<string, (s: Servers) => Transport>;

async function collect<T>(stream: AsyncIterable<T>) {
  const messages: T[] = [];
  try {
    for await (const m of stream) messages.push(m);
    return { messages, error: undefined };
  } catch (e) {
    return { messages, error: ConnectError.from(e) };
  }
}

function envelope(data: Uint8Array, flags = 0): Buffer {
  const out = Buffer.alloc(5 + data.length);
  out[0] = flags;
  out.writeUInt32BE(data.length, 1);
  out.set(data, 5);
  return out;
}

const request = (message: string, count = 1) =>
  envelope(
    toBinary(
      EchoServerStreamRequestSchema,
      create(EchoServerStreamRequestSchema, { message, count }),
    ),
  );

interface RawResult {
  readonly status: number;
  /** `"ok"`, the error code name, or `"none"` (no status at all). */
  readonly code: string;
  readonly message: string;
}

/**
 * A raw HTTP/2 request (any bytes, any headers; `body: null` leaves the request
 * body open). Reads the status from gRPC trailers or the Connect end-of-stream.
 */
function rawH2(
  baseUrl: string,
  headers: http2.OutgoingHttpHeaders,
  body: Buffer | null,
): Promise<RawResult> {
  const session = http2.connect(baseUrl);
  return new Promise<RawResult>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("no answer within 5 s")), 5000);
    session.on("error", reject);
    const stream = session.request({ ":method": "POST", ":path": PATH, ...headers });
    // (A GET has already ended its request.)
    if (body !== null && !stream.writableEnded) stream.end(body);
    let status = 0;
    let code = "none";
    let message = "";
    const chunks: Buffer[] = [];
    stream.on("response", (h) => (status = Number(h[":status"])));
    stream.on("data", (c: Buffer) => chunks.push(c));
    stream.on("trailers", (t) => {
      const grpcStatus = Number(t["grpc-status"]);
      code = grpcStatus === 0 ? "ok" : codeName(grpcStatus);
      message = decodeURIComponent(String(t["grpc-message"] ?? ""));
    });
    stream.on("error", reject);
    // The end of the response, even while the request body is still open.
    stream.once("end", () => {
      clearTimeout(timer);
      const data = Buffer.concat(chunks);
      for (let at = 0; at + 5 <= data.length; at += 5 + data.readUInt32BE(at + 1)) {
        if ((data[at]! & 0b10) === 0) continue;
        const end = JSON.parse(data.subarray(at + 5).toString()) as {
          error?: { code: string; message: string };
        };
        code = end.error?.code ?? "ok";
        message = end.error?.message ?? "";
      }
      resolve({ status, code, message });
    });
  }).finally(() => session.destroy());
}

const GRPC = { "content-type": "application/grpc+proto", te: "trailers" };
const CONNECT = { "content-type": "application/connect+proto" };

let servers: Servers;
beforeAll(async () => {
  servers = await startServers();
});
afterAll(() => servers?.close());

describe.each(Object.keys(transports) as (keyof typeof transports)[])("over %s", (name) => {
  const client = () => createClient(EchoService, transports[name](servers));

  it("streams the messages in order, ends OK, and gives the context the protocol name", async () => {
    const { messages, error } = await collect(
      client().echoServerStream({ message: "hi", count: 3 }),
    );
    expect(error).toBeUndefined();
    expect(messages.map((m) => [m.message, m.index])).toEqual([
      ["hi", 0],
      ["hi", 1],
      ["hi", 2],
    ]);
    expect(protocols.at(-1)).toBe(name === "grpc" ? "grpc" : "connect");
    expect(await servers.lastBodyRead).toBe(true);
  });

  it("sends the headers and trailers set by the implementation and an interceptor", async () => {
    let header: Headers | undefined;
    let trailer: Headers | undefined;
    await collect(
      client().echoServerStream(
        { message: "hi", count: 1 },
        { onHeader: (h) => (header = h), onTrailer: (t) => (trailer = t) },
      ),
    );
    expect([header?.get("x-impl-header"), header?.get("x-interceptor-header")]).toEqual([
      "h",
      "ih",
    ]);
    expect([trailer?.get("x-impl-trailer"), trailer?.get("x-interceptor-trailer")]).toEqual([
      "t",
      "it",
    ]);
  });

  it("answers an interceptor's unauthenticated without reading the request body", async () => {
    const calls = protocols.length;
    const { messages, error } = await collect(
      client().echoServerStream({ message: "hi", count: 1 }, { headers: { "x-deny": "1" } }),
    );
    expect(messages).toEqual([]);
    expect([error?.code, error?.rawMessage]).toEqual([Code.Unauthenticated, "no credentials"]);
    expect(await servers.lastBodyRead).toBe(false);
    expect(protocols.length).toBe(calls);
  });

  it("delivers the messages before an error thrown mid-stream, with its code, message and metadata", async () => {
    const { messages, error } = await collect(
      client().echoServerStream({ message: "fail", count: 2 }),
    );
    expect(messages.map((m) => m.index)).toEqual([0, 1]);
    expect([error?.code, error?.rawMessage]).toEqual([Code.DataLoss, "boom after 2"]);
    expect(error?.metadata.get("x-error-meta")).toBe("m");
    // The context's trailers are kept with the error, as Connect does.
    expect(error?.metadata.get("x-impl-trailer")).toBe("t");
  });

  it("aborts the implementation's signal and runs its finally when the client cancels", async () => {
    const end = nextEnd();
    const abort = new AbortController();
    const it = client()
      .echoServerStream({ message: "hold", count: 1 }, { signal: abort.signal })
      [Symbol.asyncIterator]();
    expect((await it.next()).value?.message).toBe("hold");
    abort.abort();
    expect(ConnectError.from(await end).code).toBe(Code.Canceled);
    await expect(it.next()).rejects.toMatchObject({ code: Code.Canceled });
  });
});

it("hides an error that is not a ConnectError behind internal, as Connect does", async () => {
  const client = createClient(EchoService, transports.grpc(servers));
  const { messages, error } = await collect(
    client.echoServerStream({ message: "crash", count: 1 }),
  );
  expect(messages).toHaveLength(1);
  expect([error?.code, error?.rawMessage]).toEqual([Code.Internal, "internal error"]);
});

describe.each([
  ["grpc", GRPC, "grpc-timeout", "100m", "1x"],
  ["connect", CONNECT, "connect-timeout-ms", "100", "-1"],
] as const)("raw %s requests", (_, headers, timeoutHeader, timeout, malformed) => {
  it("refuses an undecodable request message with invalid_argument", async () => {
    // Field 1 (a string) announcing 5 bytes where 1 follows.
    const r = await rawH2(servers.h2, headers, envelope(new Uint8Array([0x0a, 0x05, 0x41])));
    expect([r.status, r.code]).toEqual([200, "invalid_argument"]);
    expect(r.message).toMatch(/^invalid request message: /);
  });

  it("refuses a request over readMaxBytes with resource_exhausted", async () => {
    const r = await rawH2(servers.h2, headers, request("x".repeat(4 * READ_MAX_BYTES)));
    expect([r.code, r.message]).toEqual([
      "resource_exhausted",
      `message size is larger than configured readMaxBytes ${READ_MAX_BYTES}`,
    ]);
  });

  it("refuses two request messages with invalid_argument", async () => {
    const one = request("hi");
    const r = await rawH2(servers.h2, headers, Buffer.concat([one, one]));
    expect([r.code, r.message]).toEqual([
      "invalid_argument",
      "protocol error: the request must be exactly one complete message",
    ]);
  });

  it("ends the stream with deadline_exceeded when its timeout elapses", async () => {
    const end = nextEnd();
    const r = await rawH2(servers.h2, { ...headers, [timeoutHeader]: timeout }, request("hold"));
    expect([r.code, r.message]).toEqual(["deadline_exceeded", "the operation timed out"]);
    expect(ConnectError.from(await end).code).toBe(Code.DeadlineExceeded);
  });

  it("refuses a malformed timeout with invalid_argument, not running the implementation", async () => {
    const calls = protocols.length;
    const r = await rawH2(servers.h2, { ...headers, [timeoutHeader]: malformed }, request("hold"));
    expect([r.code, r.message]).toEqual(["invalid_argument", "malformed deadline header"]);
    expect(protocols.length).toBe(calls);
  });

  it("answers unauthenticated while the request body is still open", async () => {
    const r = await rawH2(servers.h2, { ...headers, "x-deny": "1" }, null);
    expect([r.code, r.message]).toEqual(["unauthenticated", "no credentials"]);
  });
});

it("ends open streams with unavailable when the shutdown signal aborts", async () => {
  const shutdown = new AbortController();
  const own = await startServers(shutdown.signal);
  try {
    const client = createClient(EchoService, transports.grpc(own));
    const it = client.echoServerStream({ message: "hold", count: 1 })[Symbol.asyncIterator]();
    expect((await it.next()).done).toBe(false);
    shutdown.abort();
    await expect(it.next()).rejects.toMatchObject({
      code: Code.Unavailable,
      rawMessage: "the host is shutting down",
    });
  } finally {
    await own.close();
  }
});

describe("requests it does not serve go to the fallback, untouched", () => {
  it.each([
    ["another path", { ...GRPC, ":path": "/cpg.examples.v1.EchoService/Echo" }],
    ["GET", { ...GRPC, ":method": "GET" }],
    ["gRPC-Web", { "content-type": "application/grpc-web+proto" }],
    ["gRPC JSON", { "content-type": "application/grpc+json" }],
    ["Connect JSON", { "content-type": "application/connect+json" }],
    ["gzip gRPC", { ...GRPC, "grpc-encoding": "gzip" }],
    ["gzip Connect", { ...CONNECT, "connect-content-encoding": "gzip" }],
  ])("%s", async (_, headers) => {
    const before = servers.fallback.length;
    const r = await rawH2(servers.h2, headers, request("hi"));
    expect(r.status).toBe(418);
    expect(servers.fallback.slice(before)).toEqual([
      expect.objectContaining({ contentType: headers["content-type"], headersSent: false }),
    ]);
  });

  it("gRPC over HTTP/1.1", async () => {
    const before = servers.fallback.length;
    const status = await new Promise<number | undefined>((resolve, reject) => {
      const req = http.request(`${servers.h1}${PATH}`, { method: "POST", headers: GRPC }, (res) => {
        res.resume();
        resolve(res.statusCode);
      });
      req.on("error", reject);
      req.end(request("hi"));
    });
    expect(status).toBe(418);
    expect(servers.fallback.slice(before)).toEqual([
      { method: "POST", contentType: GRPC["content-type"], headersSent: false },
    ]);
  });
});
