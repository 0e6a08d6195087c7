import type { AddressInfo } from "node:net";
import * as net from "node:net";
import { waitFor } from "@cpg/test-utils";
import { afterEach, describe, expect, it } from "vitest";
import {
  CLIENT_PREFACE,
  ErrorCode,
  Flag,
  FrameType,
  frame,
  rstStreamFrame,
  Setting,
  settingsFrame,
  windowUpdateFrame,
} from "../h2/frame.js";
import { FrameReader } from "../h2/frame-reader.js";
import { HpackDecoder } from "../h2/hpack-decoder.js";
import { encodeHeaderBlock } from "../h2/hpack-encoder.js";
import type { H2RequestHandlers } from "./h2-request-handlers.js";
import { H2ServerSession, type H2ServerSessionOptions } from "./h2-server-session.js";
import type { H2ServerStream } from "./h2-server-stream.js";

/** A frame the server sent; header blocks decoded. */
interface SeenFrame {
  type: number;
  flags: number;
  streamId: number;
  payload: Buffer;
  fields?: string[];
}

/** A client that writes frames by hand and records what the server sends. */
interface RawClient {
  frames: SeenFrame[];
  closed: boolean;
  send(...chunks: Buffer[]): void;
  waitFrame(match: (f: SeenFrame) => boolean, description: string): Promise<SeenFrame>;
}

const servers: net.Server[] = [];
const sockets: net.Socket[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(
    servers.splice(0).map((s) => new Promise((resolve) => s.close(() => resolve(undefined)))),
  );
});

type Handler = (stream: H2ServerStream) => Partial<H2RequestHandlers>;

async function startServer(
  handler: Handler,
  options: Omit<H2ServerSessionOptions, "onStream"> = {},
): Promise<{ port: number; sessions: H2ServerSession[] }> {
  const sessions: H2ServerSession[] = [];
  const server = net.createServer((socket) => {
    sessions.push(
      new H2ServerSession(socket, {
        ...options,
        onStream: (stream) => ({
          onData() {},
          onEnd() {},
          onReset() {},
          onDrain() {},
          ...handler(stream),
        }),
      }),
    );
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { port: (server.address() as AddressInfo).port, sessions };
}

async function rawClient(port: number, preface: Buffer[] = [CLIENT_PREFACE, settingsFrame([])]) {
  const socket = net.connect(port, "127.0.0.1");
  sockets.push(socket);
  await new Promise((resolve) => socket.once("connect", resolve));
  const decoder = new HpackDecoder();
  const client: RawClient = {
    frames: [],
    closed: false,
    send(...chunks) {
      socket.write(Buffer.concat(chunks));
    },
    waitFrame(match, description) {
      return waitFor(() => client.frames.find(match), { description });
    },
  };
  const reader = new FrameReader({
    onFrame(type, flags, streamId, payload) {
      client.frames.push({ type, flags, streamId, payload: Buffer.from(payload) });
    },
    onHeaderBlock(streamId, flags, block) {
      client.frames.push({
        type: FrameType.HEADERS,
        flags,
        streamId,
        payload: Buffer.from(block),
        fields: decoder.decode(block),
      });
    },
    onFramingError(code, what) {
      throw new Error(`the server sent bad frames: ${what} (${code})`);
    },
  });
  socket.on("data", (chunk: Buffer) => reader.push(chunk));
  socket.on("close", () => {
    client.closed = true;
  });
  socket.on("error", () => {});
  client.send(...preface);
  return client;
}

const request = (path = "/svc/Method", extra: string[] = []) => [
  ":method",
  "POST",
  ":scheme",
  "http",
  ":authority",
  "localhost",
  ":path",
  path,
  ...extra,
];

const headers = (streamId: number, fields: string[], end = false) =>
  frame(
    FrameType.HEADERS,
    Flag.END_HEADERS | (end ? Flag.END_STREAM : 0),
    streamId,
    encodeHeaderBlock(fields),
  );

const data = (streamId: number, payload: Buffer, end = false) =>
  frame(FrameType.DATA, end ? Flag.END_STREAM : 0, streamId, payload);

const isGoaway = (code: number) => (f: SeenFrame) =>
  f.type === FrameType.GOAWAY && f.payload.readUInt32BE(4) === code;

const isReset = (streamId: number, code: number) => (f: SeenFrame) =>
  f.type === FrameType.RST_STREAM && f.streamId === streamId && f.payload.readUInt32BE(0) === code;

/** Answers every request with 200 and its path, once the request ends. */
const answerPath: Handler = (stream) => ({
  onEnd: () => {
    stream.respond([":status", "200"]);
    stream.write(Buffer.from(stream.header(":path") ?? ""));
    stream.end();
  },
});

describe("H2ServerSession against hand-written frames", () => {
  it("closes a connection that does not start with the HTTP/2 preface (GOAWAY PROTOCOL_ERROR)", async () => {
    const { port } = await startServer(answerPath);
    const client = await rawClient(port, [Buffer.from("GET / HTTP/1.1\r\nHost: x\r\n\r\n")]);
    await client.waitFrame(isGoaway(ErrorCode.PROTOCOL_ERROR), "GOAWAY PROTOCOL_ERROR");
    await waitFor(() => client.closed, { description: "the connection closed" });
  });

  it("answers PING with the same payload", async () => {
    const { port } = await startServer(answerPath);
    const client = await rawClient(port);
    client.send(frame(FrameType.PING, 0, 0, Buffer.from("12345678")));
    const ack = await client.waitFrame((f) => f.type === FrameType.PING, "PING ACK");
    expect(ack.flags & Flag.ACK).toBe(Flag.ACK);
    expect(ack.payload.toString()).toBe("12345678");
  });

  it.each([
    ["HEADERS on an even stream id", () => headers(2, request(), true)],
    ["DATA on a stream never opened", () => data(7, Buffer.from("x"), true)],
    ["RST_STREAM on a stream never opened", () => rstStreamFrame(9, ErrorCode.CANCEL)],
    ["WINDOW_UPDATE on a stream never opened", () => windowUpdateFrame(11, 10)],
    [
      "PUSH_PROMISE from a client",
      () => frame(FrameType.PUSH_PROMISE, Flag.END_HEADERS, 1, Buffer.alloc(4)),
    ],
    ["SETTINGS on a stream", () => frame(FrameType.SETTINGS, 0, 1)],
    [
      "a PRIORITY frame of the wrong length",
      () => frame(FrameType.PRIORITY, 0, 1, Buffer.alloc(4)),
    ],
  ])("ends the connection with GOAWAY PROTOCOL_ERROR for %s", async (_, bad) => {
    const { port } = await startServer(answerPath);
    const client = await rawClient(port);
    client.send(bad());
    await client.waitFrame(isGoaway(ErrorCode.PROTOCOL_ERROR), "GOAWAY PROTOCOL_ERROR");
    await waitFor(() => client.closed, { description: "the connection closed" });
  });

  it("ends the connection with COMPRESSION_ERROR for a header block HPACK cannot decode", async () => {
    const { port } = await startServer(answerPath);
    const client = await rawClient(port);
    // Indexed field 0 does not exist (RFC 7541 §6.1).
    client.send(
      frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 1, Buffer.from([0x80])),
    );
    await client.waitFrame(isGoaway(ErrorCode.COMPRESSION_ERROR), "GOAWAY COMPRESSION_ERROR");
  });

  it.each([
    ["an uppercase header name", request("/a", ["Content-Type", "x"])],
    ["no :path", request("/a").slice(0, 6)],
    ["an empty :path", request("")],
    ["a connection header", request("/a", ["connection", "keep-alive"])],
    ['"te" other than trailers', request("/a", ["te", "gzip"])],
    ["a pseudo-header after a regular one", ["x-a", "1", ...request("/a")]],
    ["a response pseudo-header", request("/a", [":status", "200"])],
    ["a value with a newline", request("/a", ["x-a", "1\r\nx-b: 2"])],
  ])(
    "resets a request with %s (PROTOCOL_ERROR) and keeps serving the connection",
    async (_, fields) => {
      const seen: string[] = [];
      const { port } = await startServer((stream) => {
        seen.push(stream.header(":path") ?? "");
        return answerPath(stream);
      });
      const client = await rawClient(port);
      client.send(headers(1, fields, true));
      await client.waitFrame(isReset(1, ErrorCode.PROTOCOL_ERROR), "RST_STREAM PROTOCOL_ERROR");
      client.send(headers(3, request("/next"), true));
      const answer = await client.waitFrame(
        (f) => f.type === FrameType.DATA && f.streamId === 3,
        "the next request's answer",
      );
      expect(answer.payload.toString()).toBe("/next");
      expect(seen).toEqual(["/next"]);
    },
  );

  it("refuses streams beyond its limit (REFUSED_STREAM) and takes new ones once a slot frees", async () => {
    const held: H2ServerStream[] = [];
    const { port } = await startServer(
      (stream) => {
        held.push(stream);
        return {};
      },
      { maxConcurrentStreams: 1 },
    );
    const client = await rawClient(port);
    const settings = await client.waitFrame(
      (f) => f.type === FrameType.SETTINGS && !(f.flags & Flag.ACK),
      "SETTINGS",
    );
    expect(settings.payload.readUInt16BE(0)).toBe(Setting.MAX_CONCURRENT_STREAMS);
    expect(settings.payload.readUInt32BE(2)).toBe(1);
    client.send(headers(1, request("/one"), true), headers(3, request("/two"), true));
    await client.waitFrame(isReset(3, ErrorCode.REFUSED_STREAM), "RST_STREAM REFUSED_STREAM");
    expect(held).toHaveLength(1);
    held[0]!.respond([":status", "200"], true);
    client.send(headers(5, request("/three"), true));
    await waitFor(() => held.length === 2, { description: "the third request" });
    expect(held[1]!.header(":path")).toBe("/three");
  });

  it("resets a stream that sends beyond its window (FLOW_CONTROL_ERROR), and only that stream", async () => {
    const { port, sessions } = await startServer(() => ({}), { streamWindow: 100 });
    const client = await rawClient(port);
    client.send(headers(1, request()), data(1, Buffer.alloc(101)));
    await client.waitFrame(
      isReset(1, ErrorCode.FLOW_CONTROL_ERROR),
      "RST_STREAM FLOW_CONTROL_ERROR",
    );
    expect(client.frames.some((f) => f.type === FrameType.GOAWAY)).toBe(false);
    expect(sessions[0]!.activeStreams).toBe(0);
  });

  it("keeps the connection window for paused streams, and ends a connection that sends beyond it", async () => {
    const { port } = await startServer(
      (stream) => {
        stream.pause();
        return {};
      },
      { connectionWindow: 65_535, streamWindow: 1 << 20 },
    );
    const client = await rawClient(port, [
      CLIENT_PREFACE,
      settingsFrame([[Setting.INITIAL_WINDOW_SIZE, 1 << 20]]),
    ]);
    const chunk = Buffer.alloc(16_384);
    client.send(headers(1, request()), data(1, chunk), data(1, chunk), data(1, chunk));
    client.send(data(1, chunk.subarray(0, 16_383)));
    // 65,535 octets held: no WINDOW_UPDATE for the connection, and one octet more is too much.
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(client.frames.some((f) => f.type === FrameType.WINDOW_UPDATE && f.streamId === 0)).toBe(
      false,
    );
    client.send(data(1, Buffer.alloc(1)));
    await client.waitFrame(isGoaway(ErrorCode.FLOW_CONTROL_ERROR), "GOAWAY FLOW_CONTROL_ERROR");
  });

  it("answers a header list over its limit with 431", async () => {
    const { port } = await startServer(answerPath, { maxHeaderListBytes: 200 });
    const client = await rawClient(port);
    client.send(headers(1, request("/big", ["x-big", "v".repeat(300)]), true));
    const answer = await client.waitFrame(
      (f) => f.type === FrameType.HEADERS && f.streamId === 1,
      "431",
    );
    expect(answer.fields).toEqual([":status", "431"]);
    expect(answer.flags & Flag.END_STREAM).toBe(Flag.END_STREAM);
  });

  it("passes request trailers to onEnd, and resets trailers with a pseudo-header", async () => {
    const ends: Array<string[] | undefined> = [];
    const { port } = await startServer(() => ({ onEnd: (trailers) => ends.push(trailers) }));
    const client = await rawClient(port);
    client.send(
      headers(1, request()),
      data(1, Buffer.from("x")),
      headers(1, ["x-checksum", "abc"], true),
    );
    await waitFor(() => ends.length === 1, { description: "onEnd" });
    expect(ends[0]).toEqual(["x-checksum", "abc"]);
    client.send(headers(3, request()), headers(3, [":path", "/again"], true));
    await client.waitFrame(isReset(3, ErrorCode.PROTOCOL_ERROR), "RST_STREAM PROTOCOL_ERROR");
  });

  it("resets a stream that sends HEADERS after its END_STREAM (STREAM_CLOSED)", async () => {
    const { port } = await startServer(() => ({}));
    const client = await rawClient(port);
    client.send(headers(1, request(), true), headers(1, ["x-late", "1"], true));
    await client.waitFrame(isReset(1, ErrorCode.STREAM_CLOSED), "RST_STREAM STREAM_CLOSED");
  });

  it("closes a connection that resets streams faster than its budget (ENHANCE_YOUR_CALM)", async () => {
    const resets: number[] = [];
    const { port } = await startServer(() => ({ onReset: (code) => resets.push(code) }), {
      resetBurst: 3,
      resetsPerSecond: 0.001,
    });
    const client = await rawClient(port);
    for (const id of [1, 3, 5, 7]) {
      client.send(headers(id, request()), rstStreamFrame(id, ErrorCode.CANCEL));
    }
    await client.waitFrame(isGoaway(ErrorCode.ENHANCE_YOUR_CALM), "GOAWAY ENHANCE_YOUR_CALM");
    // Three resets were within budget; the fourth stream ended with the connection.
    expect(resets).toEqual([
      ErrorCode.CANCEL,
      ErrorCode.CANCEL,
      ErrorCode.CANCEL,
      ErrorCode.ENHANCE_YOUR_CALM,
    ]);
  });

  it("sends response data only as the client's windows allow, and the rest on WINDOW_UPDATE", async () => {
    const { port } = await startServer((stream) => ({
      onEnd: () => {
        stream.respond([":status", "200"]);
        stream.write(Buffer.from("0123456789abcdefghij"));
        stream.end(["grpc-status", "0"]);
      },
    }));
    const client = await rawClient(port, [
      CLIENT_PREFACE,
      settingsFrame([[Setting.INITIAL_WINDOW_SIZE, 8]]),
    ]);
    client.send(headers(1, request(), true));
    const sent = () =>
      Buffer.concat(
        client.frames.filter((f) => f.type === FrameType.DATA).map((f) => f.payload),
      ).toString();
    await waitFor(() => sent() === "01234567", { description: "the first 8 octets" });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(sent()).toBe("01234567");
    expect(client.frames.filter((f) => f.type === FrameType.HEADERS)).toHaveLength(1);
    client.send(windowUpdateFrame(1, 100));
    const trailers = await client.waitFrame(
      (f) => f.type === FrameType.HEADERS && (f.flags & Flag.END_STREAM) !== 0,
      "the trailers",
    );
    expect(sent()).toBe("0123456789abcdefghij");
    expect(trailers.fields).toEqual(["grpc-status", "0"]);
  });

  it("refuses new streams after close() (REFUSED_STREAM) and finishes the one in progress", async () => {
    const held: H2ServerStream[] = [];
    const { port, sessions } = await startServer((stream) => {
      held.push(stream);
      return {};
    });
    const client = await rawClient(port);
    client.send(headers(1, request(), true));
    await waitFor(() => held.length === 1, { description: "the first request" });
    sessions[0]!.close();
    const goaway = await client.waitFrame(isGoaway(ErrorCode.NO_ERROR), "GOAWAY NO_ERROR");
    expect(goaway.payload.readUInt32BE(0)).toBe(1);
    client.send(headers(3, request(), true));
    await client.waitFrame(isReset(3, ErrorCode.REFUSED_STREAM), "RST_STREAM REFUSED_STREAM");
    expect(held).toHaveLength(1);
    held[0]!.respond([":status", "204"], true);
    await waitFor(() => client.closed, { description: "the connection ended" });
  });
});
