import * as http2 from "node:http2";
import * as net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { CLIENT_PREFACE, Flag, FrameType, frame } from "./frame.js";
import { HpackDecoder } from "./hpack-decoder.js";
import { encodeHeaderBlock } from "./hpack-encoder.js";
import { STATIC_TABLE_LENGTH, staticTableNames, staticTableValues } from "./hpack-static-table.js";

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("hex");
}

function roundTrip(fields: readonly string[], sensitive?: ReadonlySet<string>): string[] {
  const decoder = new HpackDecoder();
  const decoded = decoder.decode(encodeHeaderBlock(fields, sensitive));
  expect(decoder.tableSize).toBe(0);
  return decoded;
}

describe("encodeHeaderBlock", () => {
  it("encodes exact static-table matches as one octet each", () => {
    expect(hex(encodeHeaderBlock([":method", "POST"]))).toBe("83");
    expect(hex(encodeHeaderBlock([":scheme", "https"]))).toBe("87");
    expect(hex(encodeHeaderBlock([":method", "GET", ":path", "/", ":status", "500"]))).toBe(
      "82848e",
    );
    expect(hex(encodeHeaderBlock(["accept-encoding", "gzip, deflate", "accept", ""]))).toBe("9093");
    for (let index = 1; index <= STATIC_TABLE_LENGTH; index++) {
      const name = staticTableNames[index]!;
      const value = staticTableValues[index]!;
      if (name === "authorization" || name === "proxy-authorization" || name.endsWith("cookie")) {
        continue;
      }
      const block = encodeHeaderBlock([name, value]);
      expect([...block]).toEqual([0x80 | index]);
    }
  });

  it("encodes other fields as literals without indexing, as RFC 7541 C.2.2 does", () => {
    expect(hex(encodeHeaderBlock([":path", "/sample/path"]))).toBe("040c2f73616d706c652f70617468");
    // A name with a static index of 15 or more needs a second octet in the 4-bit prefix.
    expect(hex(encodeHeaderBlock(["content-type", "application/grpc"]))).toBe(
      "0f10" + "10" + hex(Buffer.from("application/grpc")),
    );
    expect(hex(encodeHeaderBlock(["custom-key", "custom-header"]))).toBe(
      "000a" + hex(Buffer.from("custom-key")) + "0d" + hex(Buffer.from("custom-header")),
    );
  });

  it("encodes sensitive names as never-indexed literals", () => {
    const block = encodeHeaderBlock([
      "authorization",
      "Bearer secret",
      "cookie",
      "a=b",
      "proxy-authorization",
      "Basic x",
      "set-cookie",
      "c=d",
    ]);
    expect(hex(block)).toBe(
      [
        "1f08", // never indexed, name index 23 (15 + 8)
        "0d" + hex(Buffer.from("Bearer secret")),
        "1f11", // cookie, 32
        "03" + hex(Buffer.from("a=b")),
        "1f22", // proxy-authorization, 49
        "07" + hex(Buffer.from("Basic x")),
        "1f28", // set-cookie, 55
        "03" + hex(Buffer.from("c=d")),
      ].join(""),
    );
  });

  it("takes the caller's sensitive names instead of the default, as RFC 7541 C.2.3 does", () => {
    const sensitive = new Set(["password", ":method"]);
    expect(hex(encodeHeaderBlock(["password", "secret"], sensitive))).toBe(
      "1008" + hex(Buffer.from("password")) + "06" + hex(Buffer.from("secret")),
    );
    // Sensitive wins over an exact static match, and the default set no longer applies.
    expect(hex(encodeHeaderBlock([":method", "GET", "cookie", "a"], sensitive))).toBe(
      "1203474554" + "0f110161",
    );
  });

  it("writes lengths of 127 and more with continuation octets", () => {
    for (const [length, prefix] of [
      [126, "7e"],
      [127, "7f00"],
      [128, "7f01"],
      [255, "7f8001"],
      [16383, "7f807f"],
      [16384, "7f817f"],
      [60000, "7fe1d303"],
    ] as const) {
      const fields = ["x", "v".repeat(length)];
      const block = encodeHeaderBlock(fields);
      expect(hex(block.subarray(0, 3 + prefix.length / 2))).toBe("000178" + prefix);
      expect(block).toHaveLength(3 + prefix.length / 2 + length);
      expect(roundTrip(fields)).toEqual(fields);
    }
    const longName = ["x-".repeat(100), "v"];
    expect(hex(encodeHeaderBlock(longName).subarray(0, 3))).toBe("007f49");
    expect(roundTrip(longName)).toEqual(longName);
  });

  it("round-trips through HpackDecoder, with every latin1 octet, without touching the dynamic table", () => {
    const octets = Array.from({ length: 256 }, (_, octet) => String.fromCharCode(octet)).join("");
    const fields = [
      ":method",
      "POST",
      ":scheme",
      "https",
      ":path",
      "/pkg.Service/Method",
      ":authority",
      "example.com",
      "content-type",
      "application/grpc",
      "te",
      "trailers",
      "grpc-timeout",
      "5S",
      "authorization",
      "Bearer t",
      "x-octets",
      octets,
      "x-empty",
      "",
      "x-dup",
      "1",
      "x-dup",
      "2",
    ];
    expect(roundTrip(fields)).toEqual(fields);
    expect(roundTrip([])).toEqual([]);
    expect(encodeHeaderBlock([])).toHaveLength(0);
  });

  it("encodes lists larger than its first scratch plan", () => {
    const fields = Array.from({ length: 500 }, (_, i) => [`x-${i}`, `v${i}`]).flat();
    expect(roundTrip(fields)).toEqual(fields);
  });
});

const PREFACE = CLIENT_PREFACE;
const { HEADERS, SETTINGS } = FrameType;
const { END_STREAM, END_HEADERS } = Flag;

describe("encodeHeaderBlock read by Node's HTTP/2 server (nghttp2)", () => {
  const cleanups: (() => unknown)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it("delivers exactly the fields encoded, with sensitive ones flagged", async () => {
    const server = http2.createServer();
    const sessions = new Set<http2.ServerHttp2Session>();
    server.on("session", (session) => sessions.add(session));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          for (const session of sessions) session.destroy();
          server.close(() => resolve());
        }),
    );
    const { port } = server.address() as net.AddressInfo;
    const received = new Promise<[http2.IncomingHttpHeaders, string[]]>((resolve, reject) => {
      // Node passes the fields as received too, which @types/node leaves out.
      const onStream = (
        stream: http2.ServerHttp2Stream,
        headers: http2.IncomingHttpHeaders,
        _flags: number,
        rawHeaders: string[],
      ) => {
        stream.respond({ ":status": 200 }, { endStream: true });
        resolve([headers, rawHeaders]);
      };
      server.on("stream", onStream as (stream: http2.ServerHttp2Stream) => void);
      server.on("sessionError", reject);
    });

    // nghttp2 refuses leading and trailing whitespace in values (RFC 9113 §8.2.1).
    const octets = [0x09, ...range(0x20, 0x7e), ...range(0x80, 0xff)]
      .map((octet) => String.fromCharCode(octet))
      .join("");
    const fields = [
      ":method",
      "POST",
      ":scheme",
      "http",
      ":path",
      "/pkg.Service/Method",
      ":authority",
      `127.0.0.1:${port}`,
      "content-type",
      "application/grpc",
      "te",
      "trailers",
      "authorization",
      "Bearer secret",
      "cookie",
      "session=abc",
      "x-octets",
      `<${octets}>`,
      "x-long",
      "L".repeat(5000),
      "x-dup",
      "1",
      "x-dup",
      "2",
    ];
    const socket = net.connect(port, "127.0.0.1");
    cleanups.push(() => socket.destroy());
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("error", reject);
    });
    socket.resume(); // the server's frames are not inspected
    socket.write(
      Buffer.concat([
        PREFACE,
        frame(SETTINGS, 0, 0),
        frame(HEADERS, END_HEADERS | END_STREAM, 1, encodeHeaderBlock(fields)),
      ]),
    );

    const [headers, rawHeaders] = await received;
    expect(rawHeaders).toEqual(fields);
    expect(headers[":path"]).toBe("/pkg.Service/Method");
    expect(headers["x-octets"]).toBe(`<${octets}>`);
    expect((headers as Record<symbol, unknown>)[http2.sensitiveHeaders]).toEqual([
      "authorization",
      "cookie",
    ]);
  });
});

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}
