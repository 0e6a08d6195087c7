// Integration: the plain Node.js wrapper on real HTTP/1.1 and HTTP/2 servers.
import * as http from "node:http";
import * as http2 from "node:http2";
import { afterEach, describe, expect, it } from "vitest";
import { createManualClock } from "./manual-clock.js";
import { createMemoryRateLimitStore } from "./memory-rate-limit-store.js";
import { createRateLimitedHttpHandler } from "./node-rate-limited-http-handler.js";
import { RateLimitError } from "./rate-limit-error.js";
import type { RateLimitStore } from "./rate-limit-store.js";
import { listenOnLoopback, type TestServer } from "./test-server.js";

interface Reply {
  status: number;
  retryAfter: string | undefined;
  body: string;
}

/** One request on a new connection (new source port). */
function get(url: string, headers: Record<string, string> = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, headers }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        body += chunk;
      });
      res.on("end", () =>
        resolve({
          status: res.statusCode ?? 0,
          retryAfter: res.headers["retry-after"] as string | undefined,
          body,
        }),
      );
    });
    req.on("error", reject);
  });
}

const servers: TestServer[] = [];
const stores: { close(): unknown }[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
  for (const s of stores.splice(0)) s.close();
});

async function serve(options: Parameters<typeof createRateLimitedHttpHandler>[1]) {
  if (options.store === undefined) {
    const store = createMemoryRateLimitStore();
    stores.push(store);
    options = { ...options, store };
  }
  const handler = createRateLimitedHttpHandler((_req, res) => {
    res.writeHead(200, { "content-type": "text/plain" });
    res.end("ok");
  }, options);
  const server = await listenOnLoopback(http.createServer(handler));
  servers.push(server);
  return server;
}

describe("createRateLimitedHttpHandler", () => {
  it("answers 429 with Retry-After per client IP, whatever the port or headers", async () => {
    const clock = createManualClock();
    const store = createMemoryRateLimitStore({ clock, sweepIntervalMs: 0 });
    stores.push(store);
    const server = await serve({ rate: 0.25, burst: 2, store });
    const spoof = (i: number) => ({
      "x-forwarded-for": `198.51.100.${i}`,
      "x-plugin-runtime-id": `p${i}`,
    });
    expect(await get(`${server.url}/healthz`, spoof(1))).toEqual({
      status: 200,
      retryAfter: undefined,
      body: "ok",
    });
    expect((await get(`${server.url}/healthz`, spoof(2))).status).toBe(200);
    expect(await get(`${server.url}/healthz`, spoof(3))).toEqual({
      status: 429,
      retryAfter: "4",
      body: "rate limit exceeded; retry after 4000 ms\n",
    });
    clock.advance(4000);
    expect((await get(`${server.url}/healthz`)).status).toBe(200);
  });

  it("keys by the left-most X-Forwarded-For entry only with trustProxy", async () => {
    const server = await serve({ rate: 0.001, burst: 1, trustProxy: true });
    const via = (client: string) => ({ "x-forwarded-for": `${client}, 10.0.0.1` });
    expect((await get(server.url, via("198.51.100.1"))).status).toBe(200);
    expect((await get(server.url, via("198.51.100.1"))).status).toBe(429);
    expect((await get(server.url, via("198.51.100.2"))).status).toBe(200);
  });

  it("answers 503 when the store fails closed, and skips exempted requests", async () => {
    const failing: RateLimitStore = {
      consume: () => Promise.reject(new RateLimitError("store_unavailable", "down")),
      close: () => undefined,
    };
    const server = await serve({
      rate: 1,
      burst: 1,
      store: failing,
      keyFor: (req) => (req.url === "/healthz" ? undefined : "all"),
    });
    expect(await get(`${server.url}/api`)).toEqual({
      status: 503,
      retryAfter: undefined,
      body: "rate limit store unavailable\n",
    });
    expect((await get(`${server.url}/healthz`)).status).toBe(200);
  });

  it("works with the HTTP/2 compatibility API", async () => {
    const store = createMemoryRateLimitStore();
    stores.push(store);
    const handler = createRateLimitedHttpHandler(
      (_req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => res.end("ok"),
      { rate: 0.001, burst: 1, store },
    );
    const server = await listenOnLoopback(http2.createServer(handler));
    servers.push(server);
    const session = http2.connect(server.url);
    try {
      const status = (): Promise<[number, string | undefined]> =>
        new Promise((resolve, reject) => {
          const stream = session.request({ ":path": "/" });
          stream.on("response", (headers) => {
            resolve([Number(headers[":status"]), headers["retry-after"] as string | undefined]);
            stream.resume();
          });
          stream.on("error", reject);
          stream.end();
        });
      expect(await status()).toEqual([200, undefined]);
      const [code, retryAfter] = await status();
      expect(code).toBe(429);
      expect(Number(retryAfter)).toBeGreaterThan(900); // 1000 s, minus elapsed time
    } finally {
      session.destroy();
    }
  });

  it("validates its options", () => {
    expect(() =>
      createRateLimitedHttpHandler(() => undefined, { rate: 1, burst: 1, name: "a|b" }),
    ).toThrow(
      'createRateLimitedHttpHandler: name must be non-empty and must not contain "|", got "a|b"',
    );
    expect(() => createRateLimitedHttpHandler(() => undefined, { rate: 0, burst: 1 })).toThrow(
      "createRateLimitedHttpHandler: rate must be a finite number of tokens per second > 0, got 0",
    );
  });
});
