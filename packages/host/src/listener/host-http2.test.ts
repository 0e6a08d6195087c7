import { createHash, randomBytes } from "node:crypto";
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import * as net from "node:net";
import type { NodeRequestHandler } from "@cpg/plugin-sdk/internal";
import { waitFor } from "@cpg/test-utils";
import { afterEach, describe, expect, it } from "vitest";
import { h2Call } from "../test-support/h2-call.js";
import { createHostHttp2, type NativeStreamHandler } from "./host-http2.js";
import { nativeExchange } from "./native-exchange.js";

const servers: net.Server[] = [];
const clients: http2.ClientHttp2Session[] = [];
const closers: Array<() => void> = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  for (const close of closers.splice(0)) close();
  await Promise.all(
    servers.splice(0).map((s) => new Promise((resolve) => s.close(() => resolve(undefined)))),
  );
});

/** A plaintext listener whose every connection goes to createHostHttp2's acceptor. */
async function start(handler: NodeRequestHandler, native: NativeStreamHandler = () => undefined) {
  const { acceptor, close } = createHostHttp2(handler, native);
  closers.push(close);
  const server = net.createServer((socket) => acceptor(socket));
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const client = http2.connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  client.on("error", () => {});
  clients.push(client);
  return client;
}

describe("createHostHttp2", () => {
  it("serves what no native handler takes with the Node handler, which sees the caller's socket", async () => {
    let seenAddress: string | undefined;
    let seenPort: number | undefined;
    const client = await start((req, res) => {
      seenAddress = req.socket.remoteAddress;
      seenPort = req.socket.remotePort;
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const out = res as http2.Http2ServerResponse;
        out.writeHead(200, { "content-type": "application/grpc", "x-path": req.url ?? "" });
        out.write(Buffer.concat(chunks));
        res.addTrailers({ "grpc-status": "0" });
        res.end();
      });
    });
    const reply = await h2Call(client, "/pkg.Svc/Method", Buffer.from("hi"), { te: "trailers" });
    expect(reply.headers[":status"]).toBe(200);
    expect(reply.headers["x-path"]).toBe("/pkg.Svc/Method");
    expect(reply.body.toString()).toBe("hi");
    expect(reply.trailers?.["grpc-status"]).toBe("0");
    expect(seenAddress).toBe("127.0.0.1");
    // The caller's own port, not the in-process connection's.
    expect(seenPort).toBe((client.socket as net.Socket).localPort);
  });

  it("relays large bodies both ways to the Node handler, with flow control", async () => {
    const client = await start((req, res) => {
      res.writeHead(200);
      req.pipe(res as unknown as NodeJS.WritableStream);
    });
    const body = randomBytes(3 << 20);
    const reply = await h2Call(client, "/echo", body);
    expect(createHash("sha256").update(reply.body).digest("hex")).toBe(
      createHash("sha256").update(body).digest("hex"),
    );
  });

  it("gives a request to the native handler when it takes it, and to the Node handler otherwise", async () => {
    const nodeSaw: string[] = [];
    const client = await start(
      (req, res) => {
        nodeSaw.push(req.url ?? "");
        res.end("node");
      },
      (stream, socket) => {
        if (stream.header(":path") !== "/native") return undefined;
        const { req, res, handlers } = nativeExchange(stream, socket);
        req.on("end", () => {
          res.writeHead(200, { "x-native": "yes" });
          res.end("native");
        });
        return handlers;
      },
    );
    const native = await h2Call(client, "/native", Buffer.from("x"));
    const viaNode = await h2Call(client, "/other", Buffer.from("x"));
    expect([native.body.toString(), native.headers["x-native"]]).toEqual(["native", "yes"]);
    expect(viaNode.body.toString()).toBe("node");
    expect(nodeSaw).toEqual(["/other"]);
  });

  it("passes a reset from the Node handler to the caller", async () => {
    const client = await start((req) => {
      (req as http2.Http2ServerRequest).stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
    });
    const req = client.request({ ":method": "POST", ":path": "/refuse" });
    req.on("error", () => {});
    req.end();
    await new Promise((resolve) => req.on("close", resolve));
    expect(req.rstCode).toBe(http2.constants.NGHTTP2_REFUSED_STREAM);
  });

  it("cancels the Node handler's request when the caller resets its stream", async () => {
    let aborted = false;
    const client = await start((req) => {
      req.on("aborted", () => {
        aborted = true;
      });
      req.on("close", () => {
        aborted = true;
      });
    });
    const req = client.request({ ":method": "POST", ":path": "/slow" });
    req.on("error", () => {});
    req.write("x");
    await new Promise((resolve) => setTimeout(resolve, 50));
    req.close(http2.constants.NGHTTP2_CANCEL);
    await waitFor(() => aborted, { description: "the in-process request aborted" });
  });
});
