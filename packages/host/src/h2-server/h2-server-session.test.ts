import { createHash, randomBytes } from "node:crypto";
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import * as net from "node:net";
import * as tls from "node:tls";
import { createTestPki, waitFor } from "@cpg/test-utils";
import { afterEach, describe, expect, it } from "vitest";
import { ErrorCode } from "../h2/frame.js";
import { h2Call } from "../test-support/h2-call.js";
import type { H2RequestHandlers } from "./h2-request-handlers.js";
import { H2ServerSession, type H2ServerSessionOptions } from "./h2-server-session.js";
import type { H2ServerStream } from "./h2-server-stream.js";

type Handler = (stream: H2ServerStream) => Partial<H2RequestHandlers>;

interface TestServer {
  url: string;
  sessions: H2ServerSession[];
  /** Socket writes of the server, per connection, in order. */
  writes: Buffer[][];
}

const servers: net.Server[] = [];
const clients: http2.ClientHttp2Session[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  await Promise.all(
    servers.splice(0).map((s) => new Promise((resolve) => s.close(() => resolve(undefined)))),
  );
});

function handlersOf(stream: H2ServerStream, handler: Handler): H2RequestHandlers {
  return {
    onData() {},
    onEnd() {},
    onReset() {},
    onDrain() {},
    ...handler(stream),
  };
}

/** A plaintext (h2c) server on 127.0.0.1 whose connections are H2ServerSessions. */
async function startServer(
  handler: Handler,
  options: Omit<H2ServerSessionOptions, "onStream"> = {},
): Promise<TestServer> {
  const out: TestServer = { url: "", sessions: [], writes: [] };
  const server = net.createServer((socket) => {
    const writes: Buffer[] = [];
    out.writes.push(writes);
    const write = socket.write.bind(socket);
    socket.write = ((chunk: Buffer, ...rest: never[]) => {
      writes.push(Buffer.from(chunk));
      return write(chunk, ...rest);
    }) as typeof socket.write;
    out.sessions.push(
      new H2ServerSession(socket, {
        ...options,
        onStream: (stream) => handlersOf(stream, handler),
      }),
    );
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  out.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return out;
}

function connect(url: string, options: http2.SecureClientSessionOptions = {}) {
  const client = http2.connect(url, options);
  client.on("error", () => {});
  clients.push(client);
  return client;
}

/** An echo handler: answers with the request body once it is complete, then gRPC-style trailers. */
const unaryEcho: Handler = (stream) => {
  const chunks: Buffer[] = [];
  return {
    onData: (chunk) => chunks.push(Buffer.from(chunk)),
    onEnd: () => {
      stream.respond([":status", "200", "content-type", "application/grpc"]);
      stream.write(Buffer.concat(chunks));
      stream.end(["grpc-status", "0", "grpc-message", "fine"]);
    },
  };
};

describe("H2ServerSession", () => {
  it("serves a request: headers, body and trailers, with the response in one socket write", async () => {
    let seen: string[] = [];
    const server = await startServer((stream) => {
      seen = stream.fields;
      return unaryEcho(stream);
    });
    const client = connect(server.url);
    const reply = await h2Call(client, "/pkg.Echo/Say?x=1", Buffer.from("hello"), {
      "content-type": "application/grpc",
      te: "trailers",
    });
    expect(reply.headers[":status"]).toBe(200);
    expect(reply.headers["content-type"]).toBe("application/grpc");
    expect(reply.body.toString()).toBe("hello");
    expect(reply.trailers).toMatchObject({ "grpc-status": "0", "grpc-message": "fine" });
    const field = (name: string) => seen[seen.indexOf(name) + 1];
    expect(field(":method")).toBe("POST");
    expect(field(":scheme")).toBe("http");
    expect(field(":path")).toBe("/pkg.Echo/Say?x=1");
    expect(field("content-type")).toBe("application/grpc");
    expect(field("te")).toBe("trailers");
    // The last write holds the whole response: HEADERS, DATA and the trailing HEADERS.
    const last = server.writes[0]!.at(-1)!;
    const types: number[] = [];
    for (let at = 0; at + 9 <= last.length; at += 9 + last.readUIntBE(at, 3))
      types.push(last[at + 3]!);
    expect(types.slice(-3)).toEqual([1, 0, 1]);
  });

  it("answers a request without body (END_STREAM on its HEADERS) and a trailers-only response", async () => {
    const server = await startServer((stream) => ({
      onEnd: () =>
        stream.respond([":status", "200", "grpc-status", "5", "grpc-message", "nope"], true),
    }));
    const client = connect(server.url);
    const reply = await h2Call(client, "/x", undefined);
    expect(reply.headers[":status"]).toBe(200);
    expect(reply.headers["grpc-status"]).toBe("5");
    expect(reply.body.length).toBe(0);
    expect(reply.trailers).toBeUndefined();
    expect(reply.rstCode).toBe(0);
  });

  it("moves large bodies both ways under flow control, as the application reads and writes", async () => {
    // The server echoes as it receives; the client's 64 KiB windows make it wait for WINDOW_UPDATE.
    const server = await startServer((stream) => {
      stream.respond([":status", "200"]);
      return {
        onData(chunk) {
          if (!stream.write(Buffer.from(chunk))) stream.pause();
        },
        onDrain() {
          stream.resume();
        },
        onEnd() {
          stream.end();
        },
      };
    });
    const client = connect(server.url);
    const body = randomBytes(5 << 20);
    const reply = await h2Call(client, "/echo", body);
    expect(reply.headers[":status"]).toBe(200);
    expect(reply.body.length).toBe(body.length);
    expect(createHash("sha256").update(reply.body).digest("hex")).toBe(
      createHash("sha256").update(body).digest("hex"),
    );
  });

  it("holds the client to the stream window while paused, and takes the rest on resume", async () => {
    let received = 0;
    let stream!: H2ServerStream;
    let ended = false;
    const server = await startServer(
      (s) => {
        stream = s;
        s.pause();
        return {
          onData: (chunk) => {
            received += chunk.length;
          },
          onEnd: () => {
            ended = true;
            s.respond([":status", "204"], true);
          },
        };
      },
      { streamWindow: 65_535 },
    );
    const client = connect(server.url);
    const reply = h2Call(client, "/upload", randomBytes(1 << 20));
    await waitFor(() => received === 65_535, { description: "a full stream window" });
    // Nothing more arrives while paused.
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(received).toBe(65_535);
    expect(ended).toBe(false);
    // resume() grants what was used; the rest flows as it is read.
    stream.resume();
    expect((await reply).headers[":status"]).toBe(204);
    expect(received).toBe(1 << 20);
  });

  it("serves many streams at once on one connection", async () => {
    const server = await startServer(unaryEcho);
    const client = connect(server.url);
    const replies = await Promise.all(
      Array.from({ length: 300 }, (_, i) => h2Call(client, `/n/${i}`, Buffer.from(`message ${i}`))),
    );
    replies.forEach((reply, i) => {
      expect(reply.body.toString()).toBe(`message ${i}`);
      expect(reply.trailers?.["grpc-status"]).toBe("0");
    });
    expect(server.sessions[0]!.activeStreams).toBe(0);
  });

  it("tells the application when the client resets a stream, and stops its callbacks", async () => {
    const events: string[] = [];
    let stream!: H2ServerStream;
    const server = await startServer((s) => {
      stream = s;
      return {
        onData: () => events.push("data"),
        onEnd: () => events.push("end"),
        onReset: (code) => events.push(`reset ${code}`),
      };
    });
    const client = connect(server.url);
    const req = client.request({ ":method": "POST", ":path": "/cancel" });
    req.on("error", () => {});
    req.write("part");
    await waitFor(() => events.includes("data"), { description: "the first chunk" });
    // Node's client ends the request (END_STREAM) before it resets the stream.
    req.close(http2.constants.NGHTTP2_CANCEL);
    await waitFor(() => events.some((e) => e.startsWith("reset")), { description: "the reset" });
    expect(events).toEqual(["data", "end", `reset ${ErrorCode.CANCEL}`]);
    expect(stream.isClosed).toBe(true);
    // Writing to a stream that is over drops the chunk and does not block.
    expect(stream.write(Buffer.from("late"))).toBe(true);
    expect(server.sessions[0]!.activeStreams).toBe(0);
  });

  it("tells onComplete when a response is complete, also one sent from onStream itself", async () => {
    const completed: string[] = [];
    const server = await startServer((stream) => {
      const path = stream.header(":path")!;
      if (path === "/at-once") stream.respond([":status", "204"], true);
      return {
        onEnd: () => {
          if (path === "/later") {
            stream.respond([":status", "200"]);
            stream.end(["grpc-status", "0"]);
          }
        },
        onComplete: () => completed.push(path),
      };
    });
    const client = connect(server.url);
    expect((await h2Call(client, "/at-once", undefined)).headers[":status"]).toBe(204);
    expect((await h2Call(client, "/later", Buffer.from("x"))).trailers?.["grpc-status"]).toBe("0");
    await waitFor(() => completed.length === 2, { description: "both completions" });
    expect(completed).toEqual(["/at-once", "/later"]);
  });

  it("resets a stream for the application, with its code", async () => {
    const server = await startServer((stream) => ({
      onEnd: () => stream.reset(ErrorCode.REFUSED_STREAM),
    }));
    const client = connect(server.url);
    const reply = await h2Call(client, "/refused", Buffer.from("x"));
    expect(reply.rstCode).toBe(ErrorCode.REFUSED_STREAM);
  });

  it("answers before the request ends and tells the client to stop sending (RST_STREAM NO_ERROR)", async () => {
    const events: string[] = [];
    const server = await startServer((stream) => {
      stream.respond([":status", "413"], true);
      return { onData: () => events.push("data"), onEnd: () => events.push("end") };
    });
    const client = connect(server.url);
    const req = client.request({ ":method": "POST", ":path": "/too-big" });
    req.on("error", () => {});
    const status = new Promise((resolve) => req.on("response", (h) => resolve(h[":status"])));
    req.write(Buffer.alloc(1000));
    expect(await status).toBe(413);
    await new Promise((resolve) => req.on("close", resolve));
    expect(req.rstCode).toBe(ErrorCode.NO_ERROR);
    expect(events).toEqual([]);
  });

  it("close() sends GOAWAY, lets the streams in progress finish, then ends the connection", async () => {
    const held: H2ServerStream[] = [];
    const server = await startServer((stream) => {
      held.push(stream);
      return {};
    });
    const client = connect(server.url);
    const first = h2Call(client, "/held", Buffer.from("a"));
    await waitFor(() => held.length === 1, { description: "the first request" });
    const goaway = new Promise<number>((resolve) =>
      client.once("goaway", (_code, lastStreamId) => resolve(lastStreamId)),
    );
    const closed = new Promise((resolve) => client.once("close", resolve));
    const session = server.sessions[0]!;
    session.close();
    expect(session.closed).toBe(true);
    expect(await goaway).toBe(1);
    const stream = held[0]!;
    stream.respond([":status", "200"]);
    stream.write(Buffer.from("late but whole"));
    stream.end();
    const reply = await first;
    expect(reply.body.toString()).toBe("late but whole");
    await closed;
    expect(held).toHaveLength(1);
  });

  it("reports the end of the connection, and resets the streams in progress with CANCEL", async () => {
    const codes: number[] = [];
    let closedWith: unknown = "not closed";
    const server = await startServer(() => ({ onReset: (code) => codes.push(code) }), {
      onClose: (error) => {
        closedWith = error;
      },
    });
    const client = connect(server.url);
    const req = client.request({ ":method": "POST", ":path": "/hang" });
    req.on("error", () => {});
    req.write("x");
    await waitFor(() => server.sessions[0]?.activeStreams === 1, { description: "the stream" });
    client.destroy();
    await waitFor(() => closedWith !== "not closed", { description: "onClose" });
    expect(closedWith).toBeUndefined();
    expect(codes).toEqual([ErrorCode.CANCEL]);
  });

  it("serves HTTP/2 over TLS when the listener hands it a socket that chose ALPN h2", async () => {
    const pki = await createTestPki();
    const sessions: H2ServerSession[] = [];
    const server = tls.createServer(
      { cert: pki.server.cert, key: pki.server.key, ALPNProtocols: ["h2"] },
      (socket) => {
        sessions.push(
          new H2ServerSession(socket, { onStream: (stream) => handlersOf(stream, unaryEcho) }),
        );
      },
    );
    servers.push(server as unknown as net.Server);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as AddressInfo).port;
    const client = connect(`https://localhost:${port}`, { ca: pki.ca.cert });
    const reply = await h2Call(client, "/tls", Buffer.from("secret"));
    expect(reply.body.toString()).toBe("secret");
    expect(reply.trailers?.["grpc-status"]).toBe("0");
    expect(sessions[0]!.socket).toBeInstanceOf(tls.TLSSocket);
  });
});
