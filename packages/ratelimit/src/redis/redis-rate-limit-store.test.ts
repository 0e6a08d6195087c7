// Integration: the Redis store against a real redis-server child process.
import { createHash } from "node:crypto";
import { Code, ConnectError, createClient, createRouterTransport } from "@connectrpc/connect";
import { PluginControl } from "@cpg/protocol";
import { skipRedisTests, startRedis, type TestRedis } from "@cpg/test-utils";
import { Redis, type RedisOptions } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { isRateLimitError, type RateLimitError } from "../rate-limit-error.js";
import { createRateLimitInterceptor } from "../rate-limit-interceptor.js";
import { createRateLimiter } from "../rate-limiter.js";
import { createTestRoutes } from "../test-server.js";
import { createRedisRateLimitStore } from "./redis-rate-limit-store.js";
import { TOKEN_BUCKET_SCRIPT, TOKEN_BUCKET_SCRIPT_SHA1 } from "./token-bucket-script.js";

const clients: Redis[] = [];
function connect(redis: TestRedis, options: RedisOptions = {}): Redis {
  const client = new Redis({ host: "127.0.0.1", port: redis.port, ...options });
  client.on("error", () => undefined); // expected while the server is down
  clients.push(client);
  return client;
}
afterAll(() => {
  for (const client of clients.splice(0)) client.disconnect();
});

async function rejection(call: Promise<unknown>): Promise<RateLimitError> {
  try {
    await call;
  } catch (error) {
    if (isRateLimitError(error)) return error;
    throw error;
  }
  throw new Error("expected a RateLimitError");
}

it("pins the SHA-1 of the token bucket script", () => {
  expect(createHash("sha1").update(TOKEN_BUCKET_SCRIPT).digest("hex")).toBe(
    TOKEN_BUCKET_SCRIPT_SHA1,
  );
});

it("validates its options", () => {
  expect(() => createRedisRateLimitStore({ client: {} as Redis })).toThrow(
    "createRedisRateLimitStore: client must be an ioredis Redis or Cluster instance",
  );
  const client = new Redis({ lazyConnect: true });
  clients.push(client);
  expect(() => createRedisRateLimitStore({ client, failMode: "maybe" as "open" })).toThrow(
    'createRedisRateLimitStore: failMode must be "open" or "closed", got "maybe"',
  );
  expect(() => createRedisRateLimitStore({ client, commandTimeoutMs: 0 })).toThrow(
    "createRedisRateLimitStore: commandTimeoutMs must be a finite number of milliseconds > 0, got 0",
  );
});

describe.skipIf(skipRedisTests)("Redis store against redis-server", () => {
  let redis: TestRedis;
  let admin: Redis;
  beforeAll(async () => {
    redis = await startRedis();
    admin = connect(redis);
  });
  afterAll(async () => {
    await redis?.stop();
  });
  afterEach(async () => {
    await admin.flushall();
  });

  it("keeps exact token bucket arithmetic in the script", async () => {
    const store = createRedisRateLimitStore({ client: connect(redis) });
    const limit = { rate: 0.001, burst: 3 };
    expect(await store.consume("k", limit, 1)).toEqual({
      allowed: true,
      remaining: 2,
      retryAfterMs: 0,
    });
    expect(await store.consume("k", limit, 2)).toEqual({
      allowed: true,
      remaining: 0,
      retryAfterMs: 0,
    });
    const denied = await store.consume("k", limit, 1);
    expect(denied.allowed).toBe(false);
    expect(denied.remaining).toBe(0);
    // One token at 0.001/s is 1,000,000 ms away, minus the few ms that passed.
    expect(denied.retryAfterMs).toBeGreaterThan(990_000);
    expect(denied.retryAfterMs).toBeLessThanOrEqual(1_000_000);
    await expect(store.consume("k", limit, 4)).rejects.toMatchObject({ code: "invalid_argument" });
  });

  it("shares one budget between two limiters on two connections: exactly burst allowed", async () => {
    const burst = 7;
    const a = createRateLimiter({
      rate: 0.001,
      burst,
      store: createRedisRateLimitStore({ client: connect(redis) }),
    });
    const b = createRateLimiter({
      rate: 0.001,
      burst,
      store: createRedisRateLimitStore({ client: connect(redis) }),
    });
    const decisions = await Promise.all(
      Array.from({ length: 60 }, (_, i) => (i % 2 === 0 ? a : b).take("ip:192.0.2.1")),
    );
    expect(decisions.filter((d) => d.allowed)).toHaveLength(burst);
    expect(new Set(decisions.filter((d) => d.allowed).map((d) => d.remaining))).toEqual(
      new Set([0, 1, 2, 3, 4, 5, 6]),
    );
    // Other keys are untouched.
    expect((await a.take("ip:192.0.2.2")).allowed).toBe(true);
  });

  it("stores buckets under the prefix with an expiry at the moment they are full again", async () => {
    const client = connect(redis);
    const store = createRedisRateLimitStore({ client, keyPrefix: "test:" });
    await store.consume("k", { rate: 10, burst: 5 }, 3); // full again in 300 ms
    const ttl = await admin.pttl("test:k");
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(300);
    expect(await admin.keys("*")).toEqual(["test:k"]);
  });

  it("sends no caller time, only rate, burst and cost", async () => {
    const client = connect(redis);
    const seen: unknown[][] = [];
    const spy = new Proxy(client, {
      get(target, property, receiver) {
        if (property === "evalsha") {
          return (...args: unknown[]) => {
            seen.push(args);
            return (target.evalsha as (...a: unknown[]) => Promise<unknown>)(...args);
          };
        }
        return Reflect.get(target, property, receiver);
      },
    });
    const store = createRedisRateLimitStore({ client: spy });
    await store.consume("k", { rate: 2, burst: 4 }, 1);
    expect(seen).toEqual([[TOKEN_BUCKET_SCRIPT_SHA1, 1, "cpg:ratelimit:k", 2, 4, 1]]);
  });

  it("falls back to EVAL when the script cache is empty", async () => {
    const store = createRedisRateLimitStore({ client: connect(redis) });
    await admin.script("FLUSH");
    expect(await admin.script("EXISTS", TOKEN_BUCKET_SCRIPT_SHA1)).toEqual([0]);
    expect((await store.consume("k", { rate: 1, burst: 1 }, 1)).allowed).toBe(true);
    expect(await admin.script("EXISTS", TOKEN_BUCKET_SCRIPT_SHA1)).toEqual([1]);
    expect((await store.consume("k", { rate: 1, burst: 1 }, 1)).allowed).toBe(false);
  });

  it("bounds the wait for a stalled server by commandTimeoutMs", async () => {
    const errors: RateLimitError[] = [];
    const closed = createRedisRateLimitStore({
      client: connect(redis),
      commandTimeoutMs: 100,
      onError: (e) => errors.push(e),
    });
    const open = createRedisRateLimitStore({
      client: connect(redis),
      commandTimeoutMs: 100,
      failMode: "open",
      onError: (e) => errors.push(e),
    });
    await Promise.all([
      closed.consume("warm", { rate: 1, burst: 9 }, 1),
      open.consume("warm", { rate: 1, burst: 9 }, 1),
    ]);
    await admin.call("CLIENT", "PAUSE", "800", "ALL");
    const started = performance.now();
    const error = await rejection(closed.consume("k", { rate: 1, burst: 1 }, 1));
    expect(error.code).toBe("store_timeout");
    expect(error.message).toBe("Redis did not answer a rate limit decision within 100 ms");
    expect(await open.consume("k", { rate: 1, burst: 1 }, 1)).toEqual({
      allowed: true,
      remaining: 0,
      retryAfterMs: 0,
    });
    expect(performance.now() - started).toBeLessThan(1000);
    expect(errors.map((e) => e.code)).toEqual(["store_timeout", "store_timeout"]);
  });
});

describe.skipIf(skipRedisTests)("Redis store when Redis is down", () => {
  let redis: TestRedis;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  it("fails closed (Unavailable on the wire) or open, as configured", async () => {
    const queued = connect(redis); // default ioredis: queues commands while reconnecting
    const unqueued = connect(redis, { enableOfflineQueue: false });
    const limit = { rate: 1, burst: 5 };
    const errors: RateLimitError[] = [];
    const closedQueued = createRedisRateLimitStore({ client: queued, commandTimeoutMs: 150 });
    const closedUnqueued = createRedisRateLimitStore({ client: unqueued, commandTimeoutMs: 150 });
    const open = createRedisRateLimitStore({
      client: queued,
      failMode: "open",
      commandTimeoutMs: 150,
      onError: (e) => errors.push(e),
    });
    expect((await closedQueued.consume("k", limit, 1)).allowed).toBe(true);
    expect((await closedUnqueued.consume("k", limit, 1)).allowed).toBe(true);

    const closing = Promise.all([
      new Promise((resolve) => queued.once("close", resolve)),
      new Promise((resolve) => unqueued.once("close", resolve)),
    ]);
    await redis.stop();
    await closing;

    const started = performance.now();
    const timedOut = await rejection(closedQueued.consume("k", limit, 1));
    expect(timedOut.code).toBe("store_timeout");
    const refused = await rejection(closedUnqueued.consume("k", limit, 1));
    expect(refused.code).toBe("store_unavailable");
    expect(refused.message).toMatch(/^Redis rate limit store failed: /);
    expect(refused.cause).toBeInstanceOf(Error);
    expect(await open.consume("k", limit, 1)).toEqual({
      allowed: true,
      remaining: 0,
      retryAfterMs: 0,
    });
    expect(errors).toHaveLength(1);
    expect(performance.now() - started).toBeLessThan(2000);

    // Through the interceptor: Unavailable when closed, the handler runs when open.
    const call = (store: typeof open) => {
      const test = createTestRoutes();
      const transport = createRouterTransport(test.routes, {
        router: { interceptors: [createRateLimitInterceptor({ store })] },
      });
      return { test, call: createClient(PluginControl, transport).getHealth({}) };
    };
    const closedCall = call(closedUnqueued);
    const error = await closedCall.call.then(
      () => undefined,
      (e: unknown) => ConnectError.from(e),
    );
    expect(error?.code).toBe(Code.Unavailable);
    expect(error?.rawMessage).toBe(
      "rate limit store unavailable; /connectplugin.v1.PluginControl/GetHealth rejected",
    );
    expect(closedCall.test.served).toEqual([]);
    const openCall = call(open);
    await openCall.call;
    expect(openCall.test.served).toHaveLength(1);
  });
});
