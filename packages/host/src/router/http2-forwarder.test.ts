import * as net from "node:net";
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { EchoService } from "@cpg/examples-proto";
import { bearer, RUNTIME_ID_HEADER, ServiceRegistry } from "@cpg/protocol";
import { afterEach, describe, expect, it } from "vitest";
import { ErrorCode, Flag, FrameType, frame, rstStreamFrame } from "../h2/frame.js";
import { encodeHeaderBlock } from "../h2/hpack-encoder.js";
import type { Host } from "../host.js";
import { handshakeClient, handshakeRequest, testHost } from "../test-support/test-host.js";

/** One HTTP/2 frame as it arrived. */
interface Frame {
  readonly type: number;
  readonly flags: number;
  readonly streamId: number;
  readonly length: number;
}

const { DATA, HEADERS, SETTINGS } = FrameType;
const { END_STREAM, END_HEADERS, ACK } = Flag;

/** Response headers of a gRPC answer. */
function responseHead(streamId: number): Buffer {
  const headers = encodeHeaderBlock([":status", "200", "content-type", "application/grpc"]);
  return frame(HEADERS, END_HEADERS, streamId, headers);
}

/** An empty EchoResponse message. */
function emptyMessage(streamId: number): Buffer {
  return frame(DATA, 0, streamId, Buffer.from([0, 0, 0, 0, 0]));
}

/** An empty EchoResponse with grpc-status 0: HEADERS, DATA, trailers. */
function okResponse(streamId: number): Buffer {
  return Buffer.concat([
    responseHead(streamId),
    emptyMessage(streamId),
    frame(HEADERS, END_HEADERS | END_STREAM, streamId, encodeHeaderBlock(["grpc-status", "0"])),
  ]);
}

/** The error a call ended with, or undefined when it succeeded. */
function errorOf(call: Promise<unknown>): Promise<ConnectError | undefined> {
  return call.then(
    () => undefined,
    (e: unknown) => ConnectError.from(e),
  );
}

/**
 * A gRPC provider written at the frame level, so that the test sees the
 * frames the router sends: it records every frame, and answers each request
 * once its END_STREAM arrived, by default with an empty EchoResponse and
 * grpc-status 0 (`answer` writes something else).
 */
async function frameRecordingProvider(answer: (streamId: number) => Buffer = okResponse) {
  const frames: Frame[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.write(frame(SETTINGS, 0, 0, Buffer.alloc(0)));
    let buffered = Buffer.alloc(0);
    let prefaceSeen = false;
    socket.on("data", (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      if (!prefaceSeen) {
        if (buffered.length < 24) return;
        buffered = buffered.subarray(24);
        prefaceSeen = true;
      }
      while (buffered.length >= 9) {
        const length = buffered.readUIntBE(0, 3);
        if (buffered.length < 9 + length) break;
        const f = {
          type: buffered[3]!,
          flags: buffered[4]!,
          streamId: buffered.readUInt32BE(5) & 0x7fffffff,
          length,
        };
        buffered = buffered.subarray(9 + length);
        frames.push(f);
        if (f.type === SETTINGS && !(f.flags & ACK)) {
          socket.write(frame(SETTINGS, ACK, 0, Buffer.alloc(0)));
        }
        if ((f.type === DATA || f.type === HEADERS) && f.flags & END_STREAM) {
          socket.write(answer(f.streamId));
        }
      }
    });
    socket.on("error", () => socket.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    frames,
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A transport to `baseUrl` that authenticates as a runtime. */
function asRuntime(baseUrl: string, runtimeId: string, token: string): Transport {
  return createGrpcTransport({
    baseUrl,
    interceptors: [
      (next) => (req) => {
        req.header.set(RUNTIME_ID_HEADER, runtimeId);
        req.header.set("authorization", bearer(token));
        return next(req);
      },
    ],
  });
}

let host: Host | undefined;
afterEach(async () => {
  await host?.close();
  host = undefined;
});

/** A host with the raw provider registered, and an EchoService client of it through the router. */
async function routedEcho(providerUrl: string) {
  host = testHost();
  const { url: hostUrl } = await host.listen();
  const handshake = handshakeClient(createGrpcTransport({ baseUrl: hostUrl }));
  const raw = await handshake.handshake(handshakeRequest({ selfId: "raw-echo" }));
  await createClient(
    ServiceRegistry,
    asRuntime(hostUrl, raw.runtimeId, raw.runtimeToken),
  ).registerService({
    serviceType: "raw-echo",
    version: "1.0.0",
    endpointPath: "/cpg.examples.v1.EchoService/",
    metadata: { base_url: providerUrl, http2: "true" },
  });
  const caller = await handshake.handshake(
    handshakeRequest({ selfId: "caller", requires: [{ type: "raw-echo" }] }),
  );
  const echo = createClient(
    EchoService,
    asRuntime(
      `${hostUrl}/services/raw-echo/${raw.runtimeId}`,
      caller.runtimeId,
      caller.runtimeToken,
    ),
  );
  return { echo, providerId: raw.runtimeId };
}

describe("forwarding over HTTP/2", () => {
  it("sends a unary request's message with END_STREAM, not an empty DATA frame after it", async () => {
    const provider = await frameRecordingProvider();
    try {
      const { echo } = await routedEcho(provider.url);
      for (const message of ["one", "two", "three"]) {
        expect((await echo.echo({ message })).message).toBe("");
      }

      const requests = provider.frames.filter((f) => f.type === HEADERS);
      expect(requests).toHaveLength(3);
      for (const headers of requests) {
        const data = provider.frames.filter(
          (f) => f.type === DATA && f.streamId === headers.streamId,
        );
        // One DATA frame: the message, ending the stream; no empty frame after it.
        expect(data).toEqual([expect.objectContaining({ flags: END_STREAM })]);
        expect(data[0]!.length).toBeGreaterThan(5);
      }
    } finally {
      await provider.close();
    }
  });

  it("passes on a whole response that the provider closes with RST_STREAM NO_ERROR", async () => {
    // HEADERS and DATA without END_STREAM, then RST_STREAM(NO_ERROR), as Node servers may do.
    const provider = await frameRecordingProvider((id) =>
      Buffer.concat([responseHead(id), emptyMessage(id), rstStreamFrame(id, ErrorCode.NO_ERROR)]),
    );
    try {
      const { echo } = await routedEcho(provider.url);
      // Passed on as it came, ended without error: the gRPC client itself
      // reports the missing status (the router reports no provider failure).
      const error = await errorOf(echo.echo({ message: "x" }));
      expect(error?.code).toBe(Code.Internal);
      expect(error?.rawMessage).toBe("protocol error: missing status");
    } finally {
      await provider.close();
    }
  });

  it.each<[string, (id: number) => Buffer, RegExp]>([
    [
      "resets the stream after answering",
      (id) => Buffer.concat([responseHead(id), rstStreamFrame(id, ErrorCode.INTERNAL_ERROR)]),
      /provider "[^"]+" reset the stream/,
    ],
    [
      "resets the stream without answering",
      (id) => rstStreamFrame(id, ErrorCode.INTERNAL_ERROR),
      /provider "[^"]+" closed the stream without answering/,
    ],
    [
      "sends a header block that HPACK cannot decode",
      (id) =>
        frame(HEADERS, END_HEADERS, id, Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f])),
      /provider "[^"]+" failed: .* broke the HTTP\/2 protocol: a bad header block/,
    ],
  ])(
    "answers unavailable when the provider %s, and the next call still works",
    async (_, answer, message) => {
      let calls = 0;
      const provider = await frameRecordingProvider((id) =>
        calls++ === 0 ? answer(id) : okResponse(id),
      );
      try {
        const { echo } = await routedEcho(provider.url);
        const error = await errorOf(echo.echo({ message: "x" }));
        expect(error?.code).toBe(Code.Unavailable);
        expect(error?.rawMessage).toMatch(message);
        expect((await echo.echo({ message: "again" })).message).toBe("");
      } finally {
        await provider.close();
      }
    },
  );
});
