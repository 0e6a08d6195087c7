import * as net from "node:net";
import { createClient, type Transport } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { EchoService } from "@cpg/examples-proto";
import { bearer, RUNTIME_ID_HEADER, ServiceRegistry } from "@cpg/protocol";
import { afterEach, describe, expect, it } from "vitest";
import type { Host } from "../host.js";
import { handshakeClient, handshakeRequest, testHost } from "../test-support/test-host.js";

/** One HTTP/2 frame as it arrived. */
interface Frame {
  readonly type: number;
  readonly flags: number;
  readonly streamId: number;
  readonly length: number;
}

const DATA = 0;
const HEADERS = 1;
const SETTINGS = 4;
const END_STREAM = 0x1;
const END_HEADERS = 0x4;
const ACK = 0x1;

function frame(type: number, flags: number, streamId: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(streamId, 5);
  return Buffer.concat([head, payload]);
}

/** An HPACK literal header field without indexing, with a new name. */
function literal(name: string, value: string): Buffer {
  return Buffer.concat([
    Buffer.from([0x00, name.length]),
    Buffer.from(name),
    Buffer.from([value.length]),
    Buffer.from(value),
  ]);
}

/**
 * A gRPC provider written at the frame level, so that the test sees the
 * frames the router sends: it records every frame, and answers each request
 * once its END_STREAM arrived, with an empty EchoResponse and grpc-status 0.
 */
async function frameRecordingProvider() {
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
          const headers = Buffer.concat([
            Buffer.from([0x88]), // :status 200
            literal("content-type", "application/grpc"),
          ]);
          socket.write(
            Buffer.concat([
              frame(HEADERS, END_HEADERS, f.streamId, headers),
              frame(DATA, 0, f.streamId, Buffer.from([0, 0, 0, 0, 0])),
              frame(HEADERS, END_HEADERS | END_STREAM, f.streamId, literal("grpc-status", "0")),
            ]),
          );
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

describe("forwarding over HTTP/2", () => {
  it("sends a unary request's message with END_STREAM, not an empty DATA frame after it", async () => {
    const provider = await frameRecordingProvider();
    try {
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
        metadata: { base_url: provider.url, http2: "true" },
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
});
