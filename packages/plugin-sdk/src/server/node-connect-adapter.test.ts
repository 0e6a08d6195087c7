import * as http from "node:http";
import * as http2 from "node:http2";
import { gunzipSync, gzipSync } from "node:zlib";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  type ConnectRouter,
  createClient,
  createContextKey,
  createContextValues,
  type Interceptor,
  type ServiceImpl,
  type Transport,
} from "@connectrpc/connect";
import { codeToString } from "@connectrpc/connect/protocol-connect";
import {
  compressionGzip,
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
} from "@connectrpc/connect-node";
import { listenOnFreePort, type TestServer } from "@cpg/test-utils";
import { afterEach, describe, expect, it } from "vitest";
import { GetRequestSchema, KVService, WatchRequestSchema } from "../test-support/kv-service.js";
import { ChunkSchema, UploadService } from "../test-support/upload-service.js";
import {
  createNodeConnectAdapter,
  type NodeConnectAdapterOptions,
} from "./node-connect-adapter.js";
import { listen, type NodeListener } from "./node-listener.js";

const peer = createContextKey("");
const HANDLER_PARSE_ERROR = "throw-parse";
const handlerParseError = () => new ConnectError("parse binary: x", Code.Internal);

// KVService echoes keys; Put calls `value` (a URL) with a Connect client and
// fails as that call fails. UploadService joins and echoes chunks.
function routes(router: ConnectRouter) {
  router.service(KVService, {
    get(req, ctx) {
      if (req.key === HANDLER_PARSE_ERROR) throw handlerParseError();
      return { value: `${req.key}${ctx.values.get(peer)}`, found: true };
    },
    async put(req) {
      const transport = createConnectTransport({
        baseUrl: req.value,
        httpVersion: "1.1",
        useBinaryFormat: true,
      });
      await createClient(KVService, transport).get({ key: req.key });
      return {};
    },
    async *watch(req) {
      if (req.key === HANDLER_PARSE_ERROR) throw handlerParseError();
      yield { value: req.key };
    },
  });
  router.service(UploadService, uploadImpl);
}

const uploadImpl: ServiceImpl<typeof UploadService> = {
  async upload(requests) {
    const data: string[] = [];
    for await (const r of requests) data.push(r.data);
    if (data.includes(HANDLER_PARSE_ERROR)) throw handlerParseError();
    return { data: data.join(",") };
  },
  async *chat(requests) {
    for await (const r of requests) yield { data: r.data };
  },
};

const listeners: NodeListener[] = [];
const servers: TestServer[] = [];
afterEach(async () => {
  await Promise.all([
    ...listeners.splice(0).map((l) => l.close(0)),
    ...servers.splice(0).map((s) => s.close()),
  ]);
});

async function start(options: Partial<NodeConnectAdapterOptions> = {}) {
  const listener = await listen(createNodeConnectAdapter({ routes, ...options }), {
    host: "127.0.0.1",
    port: 0,
  });
  listeners.push(listener);
  return listener;
}

// ---- raw calls over h2c, with every byte under the test's control ----

interface Answer {
  readonly status: number;
  readonly headers: http2.IncomingHttpHeaders;
  readonly body: Buffer;
  readonly trailers: http2.IncomingHttpHeaders;
}

async function post(
  url: string,
  path: string,
  headers: Record<string, string>,
  body: Uint8Array,
): Promise<Answer> {
  const session = http2.connect(url);
  try {
    return await new Promise<Answer>((resolve, reject) => {
      const stream = session.request({ ":method": "POST", ":path": path, ...headers });
      let responseHeaders: http2.IncomingHttpHeaders = {};
      let trailers: http2.IncomingHttpHeaders = {};
      const chunks: Buffer[] = [];
      stream.on("response", (h) => {
        responseHeaders = h;
      });
      stream.on("trailers", (t) => {
        trailers = t;
      });
      stream.on("data", (chunk: Buffer) => chunks.push(chunk));
      stream.on("end", () =>
        resolve({
          status: Number(responseHeaders[":status"]),
          headers: responseHeaders,
          body: Buffer.concat(chunks),
          trailers,
        }),
      );
      stream.on("error", reject);
      stream.end(body);
    });
  } finally {
    session.close();
  }
}

function envelope(flags: number, data: Uint8Array): Buffer {
  const head = Buffer.alloc(5);
  head[0] = flags;
  head.writeUInt32BE(data.byteLength, 1);
  return Buffer.concat([head, data]);
}

function envelopes(body: Buffer): { flags: number; data: Buffer }[] {
  const out: { flags: number; data: Buffer }[] = [];
  for (let i = 0; i + 5 <= body.length; ) {
    const length = body.readUInt32BE(i + 1);
    const flags = body[i]!;
    const data = body.subarray(i + 5, i + 5 + length);
    out.push({ flags, data: flags & 1 ? gunzipSync(data) : data });
    i += 5 + length;
  }
  return out;
}

interface Outcome {
  readonly code: string;
  readonly message: string;
}

const grpcOutcome = (h: http2.IncomingHttpHeaders | Headers): Outcome => {
  const get = (k: string) => (h instanceof Headers ? h.get(k) : (h[k] as string | undefined));
  const status = Number(get("grpc-status"));
  return {
    code: status === 0 ? "ok" : codeToString(status as Code),
    message: decodeURIComponent(get("grpc-message") ?? ""),
  };
};

/** One wire protocol and codec: how to frame request messages and read the outcome. */
interface Wire {
  readonly name: string;
  readonly headers: (streaming: boolean) => Record<string, string>;
  readonly frame: (streaming: boolean, messages: Uint8Array[], flags?: number) => Uint8Array;
  readonly outcome: (answer: Answer, streaming: boolean) => Outcome;
}

const framed = (_: boolean, messages: Uint8Array[], flags = 0) =>
  Buffer.concat(messages.map((m) => envelope(flags, m)));

const connectOutcome = (a: Answer, streaming: boolean): Outcome => {
  if (!streaming) {
    if (a.status === 200) return { code: "ok", message: "" };
    const body = a.headers["content-encoding"] === "gzip" ? gunzipSync(a.body) : a.body;
    return JSON.parse(body.toString()) as Outcome;
  }
  const end = envelopes(a.body).find((e) => e.flags & 0b10);
  const error = (JSON.parse(end!.data.toString()) as { error?: Outcome }).error;
  return error ?? { code: "ok", message: "" };
};

const grpcWebOutcome = (a: Answer): Outcome => {
  const trailer = envelopes(a.body).find((e) => e.flags & 0x80)!;
  const headers = new Headers();
  for (const line of trailer.data.toString().split("\r\n")) {
    const i = line.indexOf(":");
    if (i > 0) headers.append(line.slice(0, i).trim(), line.slice(i + 1).trim());
  }
  return grpcOutcome(headers);
};

const connectProto = (codec = "proto"): Wire => ({
  name: `Connect ${codec}`,
  headers: (streaming) => ({
    "content-type": streaming ? `application/connect+${codec}` : `application/${codec}`,
    "connect-protocol-version": "1",
  }),
  frame: (streaming, messages, flags) =>
    streaming ? framed(streaming, messages, flags) : messages[0]!,
  outcome: connectOutcome,
});

const grpc = (codec = "proto"): Wire => ({
  name: `gRPC ${codec}`,
  headers: () => ({ "content-type": `application/grpc+${codec}`, te: "trailers" }),
  frame: framed,
  outcome: (a) => grpcOutcome(a.trailers["grpc-status"] ? a.trailers : a.headers),
});

const grpcWeb = (codec = "proto"): Wire => ({
  name: `gRPC-Web ${codec}`,
  headers: () => ({ "content-type": `application/grpc-web+${codec}` }),
  frame: framed,
  outcome: grpcWebOutcome,
});

const PROTO_WIRES = [connectProto(), grpc(), grpcWeb()];

async function call(
  url: string,
  wire: Wire,
  path: string,
  messages: Uint8Array[],
  options: { streaming?: boolean; headers?: Record<string, string>; flags?: number } = {},
): Promise<Outcome> {
  const streaming = options.streaming ?? false;
  const answer = await post(
    url,
    path,
    { ...wire.headers(streaming), ...options.headers },
    wire.frame(streaming, messages, options.flags),
  );
  return wire.outcome(answer, streaming);
}

// Deterministic pseudo-random bytes (mulberry32): a failure reruns identically.
function seededRandom(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const validGet = toBinary(GetRequestSchema, create(GetRequestSchema, { key: "hello world" }));
const ILLEGAL_TAG = new Uint8Array([0x0f, 0xff]);
const TRUNCATED = validGet.subarray(0, validGet.length - 1);
const BAD_UTF8 = new Uint8Array([0x0a, 0x02, 0xff, 0xfe]);

function garbage(seed: number): Uint8Array[] {
  const rand = seededRandom(seed);
  const bodies = [ILLEGAL_TAG, TRUNCATED, BAD_UTF8];
  for (let i = 0; i < 20; i++) {
    bodies.push(Uint8Array.from({ length: 1 + Math.floor(rand() * 64) }, () => rand() * 256));
  }
  for (let i = 0; i < 20; i++) {
    const mutated = Uint8Array.from(validGet);
    mutated[Math.floor(rand() * mutated.length)] = rand() * 256;
    bodies.push(mutated.subarray(0, 1 + Math.floor(rand() * mutated.length)));
  }
  return bodies;
}

// What the adapter must answer to `body` as a GetRequest: the decoder is the oracle.
function expected(body: Uint8Array): Outcome {
  try {
    fromBinary(GetRequestSchema, body);
    return { code: "ok", message: "" };
  } catch (e) {
    return {
      code: "invalid_argument",
      message: `invalid request message: ${(e as Error).message}`,
    };
  }
}

const GET = "/kv.v1.KVService/Get";
const WATCH = "/kv.v1.KVService/Watch";
const UPLOAD = "/test.v1.UploadService/Upload";
const CHAT = "/test.v1.UploadService/Chat";
const chunk = (data: string) => toBinary(ChunkSchema, create(ChunkSchema, { data }));

describe("createNodeConnectAdapter: undecodable request messages", () => {
  it.each(PROTO_WIRES)("unary, $name: random, truncated and mutated bodies", async (wire) => {
    const { url } = await start();
    const bodies = garbage(0x5eed);
    const outcomes = await Promise.all(
      bodies.map(async (body) => {
        const got = await call(url, wire, GET, [body]);
        return { got: got.code === "ok" ? { code: "ok", message: "" } : got, want: expected(body) };
      }),
    );
    for (const { got, want } of outcomes) expect(got).toEqual(want);
    // The fixed cases, and most random ones, do not decode.
    const refused = outcomes.filter((o) => o.want.code === "invalid_argument").length;
    expect(refused).toBeGreaterThan(bodies.length / 2);
    expect(outcomes[0]!.got).toEqual({
      code: "invalid_argument",
      message: "invalid request message: illegal tag: field no 1 wire type 7",
    });
    expect(outcomes[1]!.got.message).toBe("invalid request message: premature EOF");
  });

  it.each([connectProto("json"), grpc("json"), grpcWeb("json")])(
    "unary, $name: invalid JSON and wrong field types",
    async (wire) => {
      const { url } = await start();
      for (const text of ["{", "not json", '{"key": 5}', '{"key": {"a": 1}}', "[]"]) {
        const got = await call(url, wire, GET, [new TextEncoder().encode(text)]);
        expect([text, got.code]).toEqual([text, "invalid_argument"]);
        expect(got.message).not.toBe("");
      }
      const ok = await call(url, wire, GET, [new TextEncoder().encode('{"key": "k"}')]);
      expect(ok.code).toBe("ok");
    },
  );

  it.each(PROTO_WIRES)("server stream, $name", async (wire) => {
    const { url } = await start();
    for (const body of [ILLEGAL_TAG, TRUNCATED]) {
      const got = await call(url, wire, WATCH, [body], { streaming: true });
      expect(got).toEqual(expected(body));
    }
    const good = toBinary(WatchRequestSchema, create(WatchRequestSchema, { key: "k" }));
    expect((await call(url, wire, WATCH, [good], { streaming: true })).code).toBe("ok");
  });

  it.each(PROTO_WIRES)("client stream, $name: a bad message after good ones", async (wire) => {
    const { url } = await start();
    const got = await call(url, wire, UPLOAD, [chunk("a"), chunk("b"), ILLEGAL_TAG, chunk("c")], {
      streaming: true,
    });
    expect(got).toEqual({
      code: "invalid_argument",
      message: "invalid request message: illegal tag: field no 1 wire type 7",
    });
  });

  it.each([connectProto(), grpc()])(
    "bidi stream, $name: a bad message mid-stream",
    async (wire) => {
      const { url } = await start();
      const got = await call(url, wire, CHAT, [chunk("a"), TRUNCATED], { streaming: true });
      expect(got).toEqual({
        code: "invalid_argument",
        message: "invalid request message: premature EOF",
      });
    },
  );

  it("unary over HTTP/1.1 (fetch)", async () => {
    const { url } = await start();
    const res = await fetch(`${url}${GET}`, {
      method: "POST",
      headers: { "content-type": "application/proto", "connect-protocol-version": "1" },
      body: ILLEGAL_TAG,
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({
      code: "invalid_argument",
      message: "invalid request message: illegal tag: field no 1 wire type 7",
    });
  });

  it.each(PROTO_WIRES)(
    "gzip-compressed bad request, compressed error bodies, $name",
    async (wire) => {
      // compressMinBytes 0: connect-es compresses even its small error bodies.
      const { url } = await start({ compressMinBytes: 0 });
      const isConnect = wire.name.startsWith("Connect");
      const compressed = await call(url, wire, GET, [gzipSync(ILLEGAL_TAG)], {
        headers: isConnect
          ? { "content-encoding": "gzip", "accept-encoding": "gzip" }
          : { "grpc-encoding": "gzip", "grpc-accept-encoding": "gzip" },
        flags: 1,
      });
      expect(compressed).toEqual(expected(ILLEGAL_TAG));
      const plain = await call(url, wire, GET, [TRUNCATED], {
        headers: isConnect ? { "accept-encoding": "gzip" } : { "grpc-accept-encoding": "gzip" },
      });
      expect(plain).toEqual(expected(TRUNCATED));
    },
  );

  it("never runs the interceptors for a unary request that does not decode", async () => {
    const seen: string[] = [];
    const spy: Interceptor = (next) => (req) => {
      seen.push(req.method.name);
      return next(req);
    };
    const { url } = await start({ interceptors: [spy] });
    expect((await call(url, grpc(), GET, [ILLEGAL_TAG])).code).toBe("invalid_argument");
    expect(seen).toEqual([]);
    expect((await call(url, grpc(), GET, [validGet])).code).toBe("ok");
    expect(seen).toEqual(["Get"]);
  });

  it("keeps strict decoding for a service registered with its own interceptors", async () => {
    const listener = await listen(
      createNodeConnectAdapter({
        routes: (router) => router.service(UploadService, uploadImpl, { interceptors: [] }),
      }),
      { host: "127.0.0.1", port: 0 },
    );
    listeners.push(listener);
    const got = await call(listener.url, grpc(), UPLOAD, [chunk("a"), ILLEGAL_TAG], {
      streaming: true,
    });
    expect(got.code).toBe("invalid_argument");
  });
});

const transports: [string, (url: string) => Transport][] = [
  [
    "Connect binary",
    (baseUrl) => createConnectTransport({ baseUrl, httpVersion: "2", useBinaryFormat: true }),
  ],
  ["Connect JSON", (baseUrl) => createConnectTransport({ baseUrl, httpVersion: "1.1" })],
  ["gRPC", (baseUrl) => createGrpcTransport({ baseUrl })],
  [
    "gRPC-Web",
    (baseUrl) => createGrpcWebTransport({ baseUrl, httpVersion: "2", useBinaryFormat: true }),
  ],
];

const gzip = { sendCompression: compressionGzip, compressMinBytes: 0 };
const gzipTransports: [string, (url: string) => Transport][] = [
  [
    "Connect binary",
    (baseUrl) =>
      createConnectTransport({ baseUrl, httpVersion: "2", useBinaryFormat: true, ...gzip }),
  ],
  ["Connect JSON", (baseUrl) => createConnectTransport({ baseUrl, httpVersion: "1.1", ...gzip })],
  ["gRPC", (baseUrl) => createGrpcTransport({ baseUrl, ...gzip })],
  ["gRPC-Web", (baseUrl) => createGrpcWebTransport({ baseUrl, httpVersion: "2", ...gzip })],
];

async function failure(promise: Promise<unknown>): Promise<ConnectError> {
  return promise.then(
    () => {
      throw new Error("expected the call to fail");
    },
    (e: unknown) => ConnectError.from(e),
  );
}

async function* chunks(...data: string[]) {
  for (const d of data) yield create(ChunkSchema, { data: d });
}

describe("createNodeConnectAdapter: valid calls and handler errors", () => {
  it.each(transports)("%s: unary, server stream and client stream work", async (_, transport) => {
    const { url } = await start();
    const kv = createClient(KVService, transport(url));
    expect((await kv.get({ key: "k" })).value).toBe("k");
    const watched: string[] = [];
    for await (const r of kv.watch({ key: "w" })) watched.push(r.value);
    expect(watched).toEqual(["w"]);
    const upload = createClient(UploadService, transport(url));
    expect((await upload.upload(chunks("a", "b"))).data).toBe("a,b");
  });

  it.each(gzipTransports)(
    "%s: gzip-compressed requests and responses work",
    async (_, transport) => {
      const { url } = await start({ compressMinBytes: 0 });
      const kv = createClient(KVService, transport(url));
      const key = "zipped".repeat(50);
      expect((await kv.get({ key })).value).toBe(key);
      const upload = createClient(UploadService, transport(url));
      expect((await upload.upload(chunks(key, "b"))).data).toBe(`${key},b`);
    },
  );

  it.each(transports)(
    "%s: a handler's own internal parse error stays internal",
    async (_, transport) => {
      const { url } = await start();
      const kv = createClient(KVService, transport(url));
      const unary = await failure(kv.get({ key: HANDLER_PARSE_ERROR }));
      expect([unary.code, unary.rawMessage]).toEqual([Code.Internal, "parse binary: x"]);
      const stream = await failure(
        (async () => {
          for await (const _r of kv.watch({ key: HANDLER_PARSE_ERROR }));
        })(),
      );
      expect([stream.code, stream.rawMessage]).toEqual([Code.Internal, "parse binary: x"]);
      const upload = createClient(UploadService, transport(url));
      const clientStream = await failure(upload.upload(chunks("a", HANDLER_PARSE_ERROR)));
      expect([clientStream.code, clientStream.rawMessage]).toEqual([
        Code.Internal,
        "parse binary: x",
      ]);
    },
  );

  it.each(transports)(
    "%s: a response the handler cannot decode stays internal",
    async (_, transport) => {
      // An upstream that answers a Connect call with bytes that are not protobuf.
      const upstream = await listenOnFreePort(
        http.createServer((_req, res) => {
          res.writeHead(200, { "content-type": "application/proto" });
          res.end(Buffer.from(ILLEGAL_TAG));
        }),
      );
      servers.push(upstream);
      const { url } = await start();
      const error = await failure(
        createClient(KVService, transport(url)).put({ key: "k", value: upstream.url }),
      );
      expect(error.code).toBe(Code.Internal);
      expect(error.rawMessage).toMatch(/^parse binary: /);
    },
  );
});

describe("createNodeConnectAdapter: connectNodeAdapter's behaviour", () => {
  it("answers unknown paths with an empty 404, or with the fallback", async () => {
    const { url } = await start();
    const res = await fetch(`${url}/nope`, { method: "POST" });
    expect([res.status, await res.text()]).toEqual([404, ""]);
    const custom = await start({
      fallback: (_req, res) => {
        res.writeHead(418);
        res.end("teapot");
      },
    });
    const teapot = await fetch(`${custom.url}/nope`);
    expect([teapot.status, await teapot.text()]).toEqual([418, "teapot"]);
  });

  it("serves under requestPathPrefix, ignores the query, passes contextValues", async () => {
    const { url } = await start({
      requestPathPrefix: "/api",
      contextValues: () => createContextValues().set(peer, "@ctx"),
    });
    const kv = createClient(
      KVService,
      createConnectTransport({ baseUrl: `${url}/api`, httpVersion: "1.1" }),
    );
    expect((await kv.get({ key: "k" })).value).toBe("k@ctx");
    const res = await fetch(`${url}/api${GET}?x=1`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: '{"key":"q"}',
    });
    expect(await res.json()).toEqual({ value: "q@ctx", found: true });
    expect((await fetch(`${url}${GET}`, { method: "POST" })).status).toBe(404);
  });

  it("applies readMaxBytes and leaves the caller's options alone", async () => {
    const options: NodeConnectAdapterOptions = { routes, readMaxBytes: 16 };
    const listener = await listen(createNodeConnectAdapter(options), {
      host: "127.0.0.1",
      port: 0,
    });
    listeners.push(listener);
    expect(options).toEqual({ routes, readMaxBytes: 16 });
    const kv = createClient(KVService, createGrpcTransport({ baseUrl: listener.url }));
    const error = await failure(kv.get({ key: "x".repeat(64) }));
    expect(error.code).toBe(Code.ResourceExhausted);
  });
});
