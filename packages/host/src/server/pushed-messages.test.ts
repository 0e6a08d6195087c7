import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { PUSH_MESSAGES, pushEntry, pushTo } from "./pushed-messages.js";

const closers: Array<() => void> = [];
afterEach(() => {
  for (const close of closers.splice(0)) close();
});

/** An HTTP/2 server whose first request's response is handed to `serve`. */
async function http2Pair(serve: (res: http2.Http2ServerResponse) => void) {
  const server = http2.createServer((_req, res) => serve(res));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  // A small flow-control window: the server's writes back up quickly.
  const client = http2.connect(`http://127.0.0.1:${port}`, {
    settings: { initialWindowSize: 1024 },
  });
  closers.push(() => {
    client.destroy();
    server.close();
  });
  return client;
}

describe("pushTo", () => {
  it("writes each frame at once, and while the response waits for drain keeps only the latest", async () => {
    let deliver!: (message: unknown) => void;
    let pushed = 0;
    const ready = new Promise<void>((resolve) => {
      void http2Pair((res) => {
        res.writeHead(200);
        // The frame of message n: 200 bytes, n in the first 4 (big-endian).
        const frameOf = (n: unknown) => {
          const frame = Buffer.alloc(200);
          frame.writeUInt32BE(n as number, 0);
          return frame;
        };
        deliver = pushTo(res, frameOf, () => {}, new AbortController().signal);
        resolve();
      }).then((client) => {
        const stream = client.request({ ":path": "/" });
        stream.pause();
        received.stream = stream;
      });
    });
    const received: { stream?: http2.ClientHttp2Stream } = {};
    await ready;
    // Far more than the window and the stream's buffer hold while the client does not read.
    for (pushed = 0; pushed < 2_000; pushed++) deliver(pushed);
    const chunks: Buffer[] = [];
    const stream = received.stream!;
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    stream.resume();
    const last = pushed - 1;
    await new Promise<void>((resolve) => {
      const check = () => {
        const all = Buffer.concat(chunks);
        if (all.length >= 200 && all.readUInt32BE(all.length - 200) === last) resolve();
        else setTimeout(check, 10);
      };
      check();
    });
    const all = Buffer.concat(chunks);
    const numbers: number[] = [];
    for (let at = 0; at + 200 <= all.length; at += 200) numbers.push(all.readUInt32BE(at));
    // Everything up to the backlog point, then the latest: not all 2,000.
    expect(numbers.length).toBeLessThan(2_000);
    expect(numbers.at(-1)).toBe(last);
    expect(numbers).toEqual([...numbers].sort((a, b) => a - b));
  });

  it("writes nothing once the call's signal aborted", () => {
    const writes: Buffer[] = [];
    const abort = new AbortController();
    const deliver = pushTo(
      {
        writableEnded: false,
        write: (b) => {
          writes.push(b);
          return true;
        },
        once: () => undefined,
      },
      () => Buffer.from("x"),
      () => {},
      abort.signal,
    );
    deliver(1);
    abort.abort();
    deliver(2);
    expect(writes).toHaveLength(1);
  });
});

describe("pushEntry", () => {
  it("finds the push entry of pushable messages only", async () => {
    const plain: AsyncIterable<number> = (async function* () {
      yield 1;
    })();
    expect(pushEntry(plain)).toBeUndefined();
    const seen: number[] = [];
    const pushable = {
      ...plain,
      [Symbol.asyncIterator]: () => plain[Symbol.asyncIterator](),
      async [PUSH_MESSAGES](deliver: (n: number) => void) {
        deliver(7);
      },
    };
    await pushEntry<number>(pushable)!((n) => seen.push(n));
    expect(seen).toEqual([7]);
  });
});
