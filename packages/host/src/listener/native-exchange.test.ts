import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import * as net from "node:net";
import { waitFor } from "@cpg/test-utils";
import { afterEach, describe, expect, it } from "vitest";
import { H2ServerSession } from "../h2-server/h2-server-session.js";
import { h2Call } from "../test-support/h2-call.js";
import { type NativeRequest, type NativeResponse, nativeExchange } from "./native-exchange.js";

const servers: net.Server[] = [];
const clients: http2.ClientHttp2Session[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  await Promise.all(
    servers.splice(0).map((s) => new Promise((resolve) => s.close(() => resolve(undefined)))),
  );
});

/** Serves every request with `serve(req, res)` on a native exchange. */
async function start(serve: (req: NativeRequest, res: NativeResponse) => void) {
  const server = net.createServer((socket) => {
    new H2ServerSession(socket, {
      onStream(stream) {
        const { req, res, handlers } = nativeExchange(stream, socket);
        serve(req, res);
        return handlers;
      },
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const client = http2.connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  client.on("error", () => {});
  clients.push(client);
  return client;
}

describe("nativeExchange", () => {
  it("shows the request as a Node request: method, url, headers (pseudo-headers and lists too), socket", async () => {
    let seen: NativeRequest | undefined;
    const client = await start((req, res) => {
      seen = req;
      res.end();
    });
    await h2Call(client, "/pkg.S/M?q=1", undefined, {
      "x-tag": ["a", "b"],
      "content-type": "text/plain",
    });
    expect(seen!.method).toBe("POST");
    expect(seen!.url).toBe("/pkg.S/M?q=1");
    expect(seen!.httpVersionMajor).toBe(2);
    expect(seen!.headers["x-tag"]).toEqual(["a", "b"]);
    expect(seen!.headers["content-type"]).toBe("text/plain");
    expect(seen!.headers[":path"]).toBe("/pkg.S/M?q=1");
    expect(seen!.socket.remoteAddress).toBe("127.0.0.1");
  });

  it("keeps the body for a reader that comes later, and yields it by async iteration", async () => {
    const bodies: string[] = [];
    const client = await start((req, res) => {
      // Reads only after a wait, as the lean handler does after its interceptors.
      setTimeout(async () => {
        let body = "";
        for await (const chunk of req) body += chunk.toString();
        bodies.push(body);
        res.writeHead(200);
        res.end(body.toUpperCase());
      }, 30);
    });
    const reply = await h2Call(client, "/x", "late reader");
    expect(bodies).toEqual(["late reader"]);
    expect(reply.body.toString()).toBe("LATE READER");
  });

  it("ends a response without body or trailers as one HEADERS frame (trailers-only)", async () => {
    const client = await start((req, res) => {
      req.on("end", () => {
        res.writeHead(200, { "content-type": "application/grpc", "grpc-status": 7 });
        res.end();
      });
    });
    const reply = await h2Call(client, "/x", "x");
    expect(reply.headersEndedStream).toBe(true);
    expect(reply.headers["grpc-status"]).toBe("7");
    expect(reply.trailers).toBeUndefined();
  });

  it("sends headers, body and trailers, and emits close with writableFinished once complete", async () => {
    let finished: boolean | undefined;
    const client = await start((req, res) => {
      res.once("close", () => {
        finished = res.writableFinished;
      });
      req.on("data", () => {});
      req.on("end", () => {
        res.writeHead(200, { "content-type": "application/grpc" });
        expect(res.write(Buffer.from("msg"))).toBe(true);
        res.addTrailers({ "grpc-status": "0", "grpc-message": "ok" });
        res.end();
        expect(res.writableEnded).toBe(true);
      });
    });
    const reply = await h2Call(client, "/x", "x");
    expect(reply.headersEndedStream).toBe(false);
    expect(reply.body.toString()).toBe("msg");
    expect(reply.trailers).toMatchObject({ "grpc-status": "0", "grpc-message": "ok" });
    await waitFor(() => finished !== undefined, { description: "close" });
    expect(finished).toBe(true);
  });

  it("emits close without writableFinished when the caller resets, and the body iterator throws", async () => {
    let finished: boolean | undefined;
    let iteration: unknown;
    const client = await start((req, res) => {
      res.once("close", () => {
        finished = res.writableFinished;
      });
      (async () => {
        try {
          for await (const _ of req) {
            // the first chunk only
          }
        } catch (error) {
          iteration = error;
        }
      })();
    });
    const req = client.request({ ":method": "POST", ":path": "/x" });
    req.on("error", () => {});
    req.write("part");
    await new Promise((resolve) => setTimeout(resolve, 30));
    req.destroy();
    await waitFor(() => finished !== undefined && iteration !== undefined, {
      description: "close and the iterator's error",
    });
    expect(finished).toBe(false);
    expect(String(iteration)).toMatch(/reset the stream before the request ended/);
  });
});
