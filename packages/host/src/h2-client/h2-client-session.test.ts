import { createHash } from "node:crypto";
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import * as net from "node:net";
import { createTestPki, type TestPki, waitFor } from "@cpg/test-utils";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  CLIENT_PREFACE,
  ErrorCode,
  FrameType,
  frame,
  rstStreamFrame,
  settingsFrame,
} from "../h2/frame.js";
import { H2Error } from "../h2/h2-error.js";
import { connectH2Session, type H2ClientSession } from "./h2-client-session.js";
import type { H2ClientStream } from "./h2-client-stream.js";
import type { H2ResponseHandlers } from "./h2-response-handlers.js";

/** A field list without Node's automatic `date` header. */
const withoutDate = (fields: string[] | undefined) => {
  const out: string[] = [];
  for (let i = 0; i < (fields?.length ?? 0); i += 2) {
    if (fields![i] !== "date") out.push(fields![i]!, fields![i + 1]!);
  }
  return out;
};

/** What one request saw, in order. */
interface Outcome {
  events: string[];
  fields?: string[];
  trailers?: string[];
  body: Buffer;
  resetCode?: number;
  error?: Error;
  done: Promise<void>;
  stream: H2ClientStream;
}

function post(path: string, extra: string[] = []): string[] {
  return [":method", "POST", ":scheme", "http", ":authority", "localhost", ":path", path, ...extra];
}

/** Starts a request; `outcome.done` resolves when the stream ends in any way. */
function request(
  session: H2ClientSession,
  fields: string[],
  overrides: Partial<H2ResponseHandlers> = {},
): Outcome {
  const chunks: Buffer[] = [];
  let finish!: () => void;
  const outcome = {
    events: [] as string[],
    done: new Promise<void>((resolve) => {
      finish = resolve;
    }),
  } as Outcome;
  outcome.stream = session.request(fields, {
    onResponse(f, endStream) {
      outcome.events.push(endStream ? "response(end)" : "response");
      outcome.fields = f;
    },
    onData(chunk) {
      chunks.push(Buffer.from(chunk));
    },
    onTrailers(t) {
      outcome.events.push("trailers");
      outcome.trailers = t;
    },
    onEnd() {
      outcome.events.push("end");
      outcome.body = Buffer.concat(chunks);
      finish();
    },
    onReset(code) {
      outcome.events.push("reset");
      outcome.resetCode = code;
      outcome.body = Buffer.concat(chunks);
      finish();
    },
    onError(error) {
      outcome.events.push("error");
      outcome.error = error;
      outcome.body = Buffer.concat(chunks);
      finish();
    },
    onDrain() {},
    ...overrides,
  });
  return outcome;
}

const open: Array<{ close(): void }> = [];
afterEach(() => {
  for (const o of open.splice(0)) o.close();
});

/**
 * A node:http2 server on 127.0.0.1 (h2c, or TLS with `secure` options),
 * closed with its sessions after the test.
 */
async function h2Server(
  onStream: (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => void,
  settings: http2.Settings = {},
  secure?: http2.SecureServerOptions,
): Promise<{ url: string; port: number; sessions: Set<http2.ServerHttp2Session> }> {
  const server = secure
    ? http2.createSecureServer({ ...secure, settings })
    : http2.createServer({ settings });
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on("session", (s) => sessions.add(s));
  server.on("stream", onStream);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  open.push({
    close() {
      for (const s of sessions) s.destroy();
      server.close();
    },
  });
  const port = (server.address() as AddressInfo).port;
  return { sessions, port, url: `http://127.0.0.1:${port}` };
}

function session(url: string, options?: Parameters<typeof connectH2Session>[1]): H2ClientSession {
  const s = connectH2Session(url, options);
  open.push({ close: () => s.destroy() });
  return s;
}

/** Echo server: answers with the request body and gRPC-style trailers. */
function echo(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) {
  const chunks: Buffer[] = [];
  stream.on("data", (c: Buffer) => chunks.push(c));
  stream.on("end", () => {
    stream.respond(
      { ":status": 200, "content-type": "application/grpc", "x-path": String(headers[":path"]) },
      { waitForTrailers: true },
    );
    stream.on("wantTrailers", () =>
      stream.sendTrailers({ "grpc-status": "0", "grpc-message": "fine" }),
    );
    stream.end(Buffer.concat(chunks));
  });
}

describe("H2ClientSession against node:http2", () => {
  it("sends a request and reports headers, body, trailers and the end, in order", async () => {
    let seen: http2.IncomingHttpHeaders | undefined;
    const { url } = await h2Server((stream, headers) => {
      seen = headers;
      echo(stream, headers);
    });
    const s = session(url);
    const out = request(
      s,
      post("/echo.Echo/Say", ["content-type", "application/grpc", "x-one", "1", "x-one", "2"]),
    );
    out.stream.end(Buffer.from("hello"));
    await out.done;
    expect(out.events).toEqual(["response", "trailers", "end"]);
    expect(out.fields?.slice(0, 2)).toEqual([":status", "200"]);
    expect(out.fields).toContain("x-path");
    expect(out.body.toString()).toBe("hello");
    expect(out.trailers).toEqual(["grpc-status", "0", "grpc-message", "fine"]);
    expect(seen?.[":path"]).toBe("/echo.Echo/Say");
    expect(seen?.["content-type"]).toBe("application/grpc");
    expect(seen?.["x-one"]).toBe("1, 2");
  });

  it("reuses the connection, the HPACK tables staying in step over many requests", async () => {
    const { url, sessions } = await h2Server((stream, headers) => {
      stream.respond({
        ":status": 200,
        "x-n": String(headers["x-n"]),
        "x-same": "same value every time",
      });
      stream.end(String(headers["x-n"]));
    });
    const s = session(url);
    for (let n = 0; n < 50; n++) {
      const out = request(s, post("/", ["x-n", String(n)]));
      out.stream.end();
      await out.done;
      expect(out.body.toString()).toBe(String(n));
      expect(withoutDate(out.fields)).toEqual([
        ":status",
        "200",
        "x-n",
        String(n),
        "x-same",
        "same value every time",
      ]);
    }
    expect(sessions.size).toBe(1);
  });

  it("moves bodies larger than every flow-control window both ways, intact", async () => {
    const big = Buffer.alloc(3 * 1024 * 1024 + 17);
    for (let i = 0; i < big.length; i++) big[i] = (i * 31 + (i >> 11)) & 0xff;
    const digest = (b: Buffer) => createHash("sha256").update(b).digest("hex");
    let received = "";
    const { url } = await h2Server((stream) => {
      const hash = createHash("sha256");
      stream.on("data", (c: Buffer) => hash.update(c));
      stream.on("end", () => {
        received = hash.digest("hex");
        stream.respond({ ":status": 200 });
        stream.end(big);
      });
    });
    const s = session(url);
    let drains = 0;
    const out = request(s, post("/upload"), { onDrain: () => drains++ });
    // Written in pieces, as a caller would.
    for (let offset = 0; offset < big.length; offset += 100_000) {
      out.stream.write(big.subarray(offset, Math.min(big.length, offset + 100_000)));
    }
    out.stream.end();
    await out.done;
    expect(received).toBe(digest(big));
    expect(digest(out.body)).toBe(digest(big));
    expect(out.events).toEqual(["response", "end"]);
    expect(drains).toBeGreaterThan(0);
  });

  it("stops granting window while paused: the provider stops sending, then finishes on resume", async () => {
    const total = 8 * 1024 * 1024;
    let written = 0;
    let providerWaiting = false;
    const { url } = await h2Server((stream) => {
      stream.respond({ ":status": 200 });
      const piece = Buffer.alloc(64 * 1024, 1);
      const more = () => {
        providerWaiting = false;
        while (written < total) {
          written += piece.length;
          if (!stream.write(piece)) {
            providerWaiting = true;
            stream.once("drain", more);
            return;
          }
        }
        stream.end();
      };
      more();
    });
    const window = 256 * 1024;
    const s = session(url, { streamWindow: window });
    let got = 0;
    let paused = false;
    let stream!: H2ClientStream;
    const out = request(s, post("/download"), {
      onData(chunk) {
        got += chunk.length;
        if (!paused && got >= 64 * 1024) {
          paused = true;
          stream.pause();
        }
      },
    });
    stream = out.stream;
    out.stream.end();
    // The provider runs out of window and waits; the client has what the window allowed.
    await waitFor(() => paused && providerWaiting);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(got).toBeLessThanOrEqual(window);
    expect(written).toBeLessThan(total);
    out.stream.resume();
    await out.done;
    expect(got).toBe(total);
    // Node's server may close a finished stream with RST_STREAM NO_ERROR instead of END_STREAM.
    expect(out.events[0]).toBe("response");
    if (out.events[1] === "reset") expect(out.resetCode).toBe(ErrorCode.NO_ERROR);
    else expect(out.events[1]).toBe("end");
  });

  it("keeps to the provider's SETTINGS_MAX_CONCURRENT_STREAMS and sends the rest when slots free up", async () => {
    let now = 0;
    let most = 0;
    const { url } = await h2Server(
      (stream) => {
        now++;
        most = Math.max(most, now);
        stream.on("close", () => now--);
        stream.on("data", () => {});
        stream.on("end", () => {
          setTimeout(() => {
            stream.respond({ ":status": 200 });
            stream.end("ok");
          }, 5);
        });
      },
      { maxConcurrentStreams: 2 },
    );
    const s = session(url);
    // Learn the provider's settings first.
    const first = request(s, post("/"));
    first.stream.end();
    await first.done;
    const outs = Array.from({ length: 10 }, () => request(s, post("/")));
    for (const out of outs) out.stream.end(Buffer.from("x"));
    await Promise.all(outs.map((o) => o.done));
    expect(outs.map((o) => o.body.toString())).toEqual(Array(10).fill("ok"));
    expect(most).toBe(2);
  });

  it("sends a burst of calls on a new connection within a stream limit it has not learned yet", async () => {
    let refused = 0;
    const { url } = await h2Server(
      (stream) => {
        stream.on("data", () => {});
        stream.on("end", () => {
          stream.respond({ ":status": 200 });
          stream.end("ok");
        });
      },
      { maxConcurrentStreams: 2 },
    );
    const s = session(url);
    // All at once, before the provider's SETTINGS can have arrived.
    const outs = Array.from({ length: 20 }, () => request(s, post("/")));
    for (const out of outs) out.stream.end();
    await Promise.all(outs.map((o) => o.done));
    for (const out of outs) if (out.events.includes("reset")) refused++;
    expect(refused).toBe(0);
    expect(outs.map((o) => o.body.toString())).toEqual(Array(20).fill("ok"));
  });

  it("passes a trailers-only answer on as a response that ends the stream", async () => {
    const { url } = await h2Server((stream) => {
      stream.respond(
        { ":status": 200, "grpc-status": "5", "grpc-message": "nope" },
        { endStream: true },
      );
    });
    const s = session(url);
    const out = request(s, post("/"));
    out.stream.end(Buffer.from("x"));
    await out.done;
    expect(out.events).toEqual(["response(end)", "end"]);
    expect(withoutDate(out.fields)).toEqual([
      ":status",
      "200",
      "grpc-status",
      "5",
      "grpc-message",
      "nope",
    ]);
  });

  it("drops the rest of a request the provider answered early, without making the writer wait", async () => {
    let rstCode: number | undefined;
    const { url } = await h2Server((stream) => {
      stream.on("close", () => {
        rstCode = stream.rstCode;
      });
      stream.respond({ ":status": 200, "grpc-status": "3" }, { endStream: true });
    });
    const s = session(url);
    const out = request(s, post("/"));
    out.stream.write(Buffer.from("first"));
    await out.done;
    expect(out.events).toEqual(["response(end)", "end"]);
    // The provider learns the client will send no more.
    await waitFor(() => rstCode !== undefined);
    expect(rstCode).toBe(http2.constants.NGHTTP2_NO_ERROR);
    expect(out.stream.write(Buffer.alloc(1024 * 1024))).toBe(true);
    out.stream.end(Buffer.from("last"));
  });

  it("cancels a stream with RST_STREAM CANCEL and reports nothing more for it", async () => {
    let rstCode: number | undefined;
    const { url } = await h2Server((stream) => {
      stream.respond({ ":status": 200 });
      stream.write("first");
      stream.on("close", () => {
        rstCode = stream.rstCode;
      });
    });
    const s = session(url);
    const out = request(s, post("/"));
    out.stream.write(Buffer.from("x"));
    await waitFor(() => out.events.includes("response"));
    out.stream.cancel();
    await waitFor(() => rstCode !== undefined);
    expect(rstCode).toBe(http2.constants.NGHTTP2_CANCEL);
    expect(out.events).toEqual(["response"]);
    // The connection still works.
    const next = request(s, post("/"));
    next.stream.end();
    await waitFor(() => next.events.includes("response"));
    next.stream.cancel();
  });

  it("reports nothing more for a stream cancelled from inside a callback, even as it ends", async () => {
    const { url } = await h2Server((stream) => {
      stream.respond({ ":status": 200 });
      stream.end("the whole body"); // DATA with END_STREAM
    });
    const s = session(url);
    let stream!: H2ClientStream;
    const out = request(s, post("/"), {
      onData() {
        out.events.push("data");
        stream.cancel();
      },
    });
    stream = out.stream;
    out.stream.end();
    await waitFor(() => out.events.includes("data"));
    // Another request on the connection completes after it: the cancelled one had its chance to misreport.
    const next = request(s, post("/"));
    next.stream.end();
    await next.done;
    expect(out.events).toEqual(["response", "data"]);
  });

  it("keeps its books under load: 1,000 calls, 100 at a time, a stream limit of 8, sizes past the window, random cancels", async () => {
    // Answers with `size` octets of a pattern derived from the request body.
    const { url } = await h2Server(
      (stream) => {
        const chunks: Buffer[] = [];
        stream.on("error", () => {});
        stream.on("data", (c: Buffer) => chunks.push(c));
        stream.on("end", () => {
          const body = Buffer.concat(chunks).toString();
          const size = Number(body.split(":")[1]);
          if (stream.destroyed) return;
          stream.respond({ ":status": 200 }, { waitForTrailers: true });
          stream.on("wantTrailers", () => stream.sendTrailers({ "x-size": String(size) }));
          stream.end(Buffer.alloc(size, body.charCodeAt(0)));
        });
      },
      { maxConcurrentStreams: 8 },
    );
    const s = session(url, { streamWindow: 64 * 1024 });
    let seed = 7;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    let completed = 0;
    let cancelled = 0;
    const one = async (n: number) => {
      const size = random() < 0.2 ? 200_000 : Math.floor(random() * 2000);
      const tag = String.fromCharCode(97 + (n % 26));
      const out = request(s, post(`/${n}`));
      out.stream.write(Buffer.from(`${tag}:`));
      out.stream.end(Buffer.from(String(size)));
      if (random() < 0.1) {
        // Cancelled at some point of its life; it reports nothing after that.
        await new Promise((resolve) => setImmediate(resolve));
        out.stream.cancel();
        cancelled++;
        const seen = out.events.length;
        await new Promise((resolve) => setTimeout(resolve, 5));
        expect(out.events.length).toBe(seen);
        return;
      }
      await out.done;
      expect(out.events).toEqual(["response", "trailers", "end"]);
      expect(out.body.length).toBe(size);
      expect(out.body.every((b) => b === tag.charCodeAt(0))).toBe(true);
      expect(out.trailers).toEqual(["x-size", String(size)]);
      completed++;
    };
    let next = 0;
    await Promise.all(
      Array.from({ length: 100 }, async () => {
        while (next < 1000) await one(next++);
      }),
    );
    expect(completed + cancelled).toBe(1000);
    expect(completed).toBeGreaterThan(800);
    // Every stream was given back: nothing in flight, and the connection still answers.
    expect(s.inFlight).toBe(0);
    const last = request(s, post("/last"));
    last.stream.end(Buffer.from("z:3"));
    await last.done;
    expect(last.body.toString()).toBe("zzz");
    expect(s.closed).toBe(false);
  }, 60_000);

  it("sends request headers larger than a frame as HEADERS and CONTINUATION", async () => {
    let seen: http2.IncomingHttpHeaders | undefined;
    const { url } = await h2Server(
      (stream, headers) => {
        seen = headers;
        echo(stream, headers);
      },
      { maxHeaderListSize: 1 << 20 },
    );
    const s = session(url);
    const long = "v".repeat(40_000);
    const out = request(s, post("/", ["x-long", long]));
    out.stream.end();
    await out.done;
    expect(seen?.["x-long"]).toBe(long);
    expect(out.events).toEqual(["response", "trailers", "end"]);
  });

  it("finishes calls in flight when the provider goes away, and takes no new ones", async () => {
    let release: (() => void) | undefined;
    const { url, sessions } = await h2Server((stream) => {
      stream.on("data", () => {});
      release = () => {
        stream.respond({ ":status": 200 });
        stream.end("late");
      };
    });
    let unusable = 0;
    const s = session(url, { onUnusable: () => unusable++ });
    const inFlight = request(s, post("/"));
    inFlight.stream.end(Buffer.from("x"));
    await waitFor(() => release !== undefined);
    for (const ss of sessions) ss.close();
    await waitFor(() => s.closed);
    expect(unusable).toBe(1);
    release!();
    await inFlight.done;
    expect(inFlight.body.toString()).toBe("late");
    const refused = request(s, post("/"));
    refused.stream.end();
    await refused.done;
    expect(refused.events).toEqual(["error"]);
    expect(refused.error).toBeInstanceOf(H2Error);
    expect((refused.error as H2Error).code).toBe(ErrorCode.REFUSED_STREAM);
  });

  it("fails requests when the provider cannot be reached", async () => {
    const spare = net.createServer();
    await new Promise<void>((resolve) => spare.listen(0, "127.0.0.1", resolve));
    const port = (spare.address() as AddressInfo).port;
    await new Promise((resolve) => spare.close(resolve));
    const s = session(`http://127.0.0.1:${port}`);
    const out = request(s, post("/"));
    out.stream.end();
    await out.done;
    expect(out.events).toEqual(["error"]);
    expect(out.error?.message).toMatch(
      /connection to http:\/\/127\.0\.0\.1:\d+ failed: .*ECONNREFUSED/,
    );
    expect(s.closed).toBe(true);
  });
});

describe("H2ClientSession over TLS", () => {
  let pki: TestPki;
  beforeAll(async () => {
    pki = await createTestPki();
  });

  it("speaks HTTP/2 over TLS (ALPN h2), with the CA it is given", async () => {
    const { port } = await h2Server(echo, {}, { ...pki.server });
    const s = session(`https://localhost:${port}`, { tls: { ca: pki.ca.cert } });
    const out = request(s, post("/tls"));
    out.stream.end(Buffer.from("secret"));
    await out.done;
    expect(out.body.toString()).toBe("secret");

    const untrusted = session(`https://localhost:${port}`);
    const refused = request(untrusted, post("/tls"));
    refused.stream.end();
    await refused.done;
    expect(refused.events).toEqual(["error"]);
    expect(refused.error?.message).toMatch(/failed: .*certificate/);
  });
});

describe("H2ClientSession against a provider that breaks the protocol", () => {
  /** A raw TCP "provider": gets the client's bytes, answers with `reply(stream id)`. */
  async function rawProvider(reply: (streamId: number) => Buffer[]) {
    const received: Buffer[] = [];
    const server = net.createServer((socket) => {
      let answered = false;
      socket.on("data", (chunk) => {
        received.push(chunk);
        // Answer once a HEADERS frame (stream 1) came after the preface.
        if (!answered && frameTypes(Buffer.concat(received)).includes(FrameType.HEADERS)) {
          answered = true;
          socket.write(Buffer.concat([settingsFrame([]), ...reply(1)]));
        }
      });
      socket.on("error", () => {});
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    open.push({ close: () => server.close() });
    return {
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      received: () => Buffer.concat(received),
    };
  }

  /** The frames the client sent after its preface: type and payload. */
  function frames(bytes: Buffer): Array<[number, Buffer]> {
    const out: Array<[number, Buffer]> = [];
    let offset = CLIENT_PREFACE.length;
    while (offset + 9 <= bytes.length) {
      const length = bytes.readUIntBE(offset, 3);
      if (offset + 9 + length > bytes.length) break;
      out.push([bytes[offset + 3]!, bytes.subarray(offset + 9, offset + 9 + length)]);
      offset += 9 + length;
    }
    return out;
  }
  const frameTypes = (bytes: Buffer) => frames(bytes).map(([type]) => type);

  /** The GOAWAY error code the client sent, if it sent one. */
  function goawayCode(bytes: Buffer): number | undefined {
    const goaway = frames(bytes).find(([type]) => type === FrameType.GOAWAY);
    return goaway?.[1].readUInt32BE(4);
  }

  const cases: Array<[string, (id: number) => Buffer[], number]> = [
    [
      "a frame larger than SETTINGS_MAX_FRAME_SIZE",
      (id) => [frame(FrameType.DATA, 0, id, Buffer.alloc(20_000))],
      ErrorCode.FRAME_SIZE_ERROR,
    ],
    [
      "a header block HPACK cannot decode",
      (id) => [
        frame(FrameType.HEADERS, 0x4, id, Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f])),
      ],
      ErrorCode.COMPRESSION_ERROR,
    ],
    [
      "a PUSH_PROMISE with push disabled",
      (id) => [frame(FrameType.PUSH_PROMISE, 0x4, id, Buffer.from([0, 0, 0, 2, 0x88]))],
      ErrorCode.PROTOCOL_ERROR,
    ],
    [
      "DATA on a stream never opened",
      () => [frame(FrameType.DATA, 0, 7, Buffer.from("x"))],
      ErrorCode.PROTOCOL_ERROR,
    ],
    [
      "a frame between HEADERS and CONTINUATION",
      (id) => [
        frame(FrameType.HEADERS, 0, id, Buffer.from([0x88])),
        frame(FrameType.PING, 0, 0, Buffer.alloc(8)),
      ],
      ErrorCode.PROTOCOL_ERROR,
    ],
    [
      "a connection window beyond 2^31-1",
      () => [frame(FrameType.WINDOW_UPDATE, 0, 0, Buffer.from([0x7f, 0xff, 0xff, 0xff]))],
      ErrorCode.FLOW_CONTROL_ERROR,
    ],
  ];

  it.each(cases)(
    "ends the connection with GOAWAY on %s, and the stream fails",
    async (_, reply, code) => {
      const provider = await rawProvider(reply);
      const s = session(provider.url);
      const out = request(s, post("/"));
      out.stream.end();
      await out.done;
      expect(out.events).toEqual(["error"]);
      expect(out.error).toBeInstanceOf(H2Error);
      expect((out.error as H2Error).code).toBe(code);
      expect(out.error?.message).toMatch(/broke the HTTP\/2 protocol/);
      await waitFor(() => goawayCode(provider.received()) === code);
      expect(s.closed).toBe(true);
    },
  );

  it("reports a provider's RST_STREAM with its code", async () => {
    // HEADERS ":status: 200" (static index 8), then RST_STREAM INTERNAL_ERROR.
    const provider = await rawProvider((id) => [
      frame(FrameType.HEADERS, 0x4, id, Buffer.from([0x88])),
      rstStreamFrame(id, ErrorCode.INTERNAL_ERROR),
    ]);
    const s = session(provider.url);
    const out = request(s, post("/"));
    out.stream.end();
    await out.done;
    expect(out.events).toEqual(["response", "reset"]);
    expect(out.resetCode).toBe(ErrorCode.INTERNAL_ERROR);
    expect(s.closed).toBe(false);
  });

  it("cuts off a provider that floods PINGs without reading the answers (ENHANCE_YOUR_CALM)", async () => {
    const pings = Buffer.concat(
      Array.from({ length: 20_000 }, () => frame(FrameType.PING, 0, 0, Buffer.alloc(8))),
    );
    const server = net.createServer((socket) => {
      socket.on("error", () => {});
      // Never reads what the client answers; keeps sending PINGs.
      socket.pause();
      socket.write(settingsFrame([]));
      const flood = () => {
        if (socket.destroyed) return;
        socket.write(pings, () => setImmediate(flood));
      };
      flood();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const sockets: net.Socket[] = [];
    server.on("connection", (socket) => sockets.push(socket));
    open.push({
      close: () => {
        for (const socket of sockets) socket.destroy();
        server.close();
      },
    });
    const s = session(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    const out = request(s, post("/"));
    out.stream.write(Buffer.from("x"));
    await out.done;
    expect(out.events).toEqual(["error"]);
    expect((out.error as H2Error).code).toBe(ErrorCode.ENHANCE_YOUR_CALM);
    expect(out.error?.message).toMatch(
      /PING or SETTINGS frames sent faster than their answers are read/,
    );
  }, 20_000);

  it("resets a stream whose response has no :status, and keeps the connection", async () => {
    // Literal without indexing, name "x", value "y": no :status.
    const provider = await rawProvider((id) => [
      frame(FrameType.HEADERS, 0x4, id, Buffer.from([0x00, 0x01, 0x78, 0x01, 0x79])),
    ]);
    const s = session(provider.url);
    const out = request(s, post("/"));
    out.stream.end();
    await out.done;
    expect(out.events).toEqual(["error"]);
    expect(out.error?.message).toMatch(/sent a malformed response/);
    expect(s.closed).toBe(false);
  });
});
