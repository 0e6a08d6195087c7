// Unit tests over Connect's in-memory router transport. Identity and client
// address come from test headers through a test interceptor placed before the
// rate limiter (the router transport has no sockets).
import {
  Code,
  ConnectError,
  createClient,
  createRouterTransport,
  type Interceptor,
} from "@connectrpc/connect";
import { setAuthContext } from "@cpg/auth";
import { PluginControl, pluginHealthV1 } from "@cpg/protocol";
import { afterEach, describe, expect, it } from "vitest";
import { setClientAddress } from "./client-address.js";
import { createManualClock } from "./manual-clock.js";
import {
  createMemoryRateLimitStore,
  type MemoryRateLimitStore,
} from "./memory-rate-limit-store.js";
import { RateLimitError } from "./rate-limit-error.js";
import {
  createRateLimitInterceptor,
  type RateLimitInterceptorOptions,
} from "./rate-limit-interceptor.js";
import type { RateLimitStore } from "./rate-limit-store.js";
import { createTestRoutes } from "./test-server.js";

const GET_HEALTH = "/connectplugin.v1.PluginControl/GetHealth";
const WATCH = "/connectplugin.health.v1.HealthService/Watch";

/** Sets identity and address from `x-test-identity` / `x-test-address`. */
const testContext: Interceptor = (next) => (req) => {
  const identity = req.header.get("x-test-identity");
  if (identity) setAuthContext(req.contextValues, { identity, provider: "test", claims: {} });
  setClientAddress(req.contextValues, req.header.get("x-test-address") ?? "192.0.2.1");
  return next(req);
};

const stores: MemoryRateLimitStore[] = [];
afterEach(() => {
  for (const store of stores.splice(0)) store.close();
});

function setup(options: RateLimitInterceptorOptions) {
  const clock = createManualClock();
  const store = createMemoryRateLimitStore({ clock, sweepIntervalMs: 0 });
  stores.push(store);
  const test = createTestRoutes();
  const transport = createRouterTransport(test.routes, {
    router: { interceptors: [testContext, createRateLimitInterceptor({ store, ...options })] },
  });
  return {
    clock,
    test,
    control: createClient(PluginControl, transport),
    health: createClient(pluginHealthV1.HealthService, transport),
  };
}

async function failure(call: Promise<unknown>): Promise<ConnectError> {
  try {
    await call;
  } catch (error) {
    return ConnectError.from(error);
  }
  throw new Error("expected the call to fail");
}

/** Runs `n` calls one after another; returns how many succeeded. */
async function allowedOf(n: number, call: () => Promise<unknown>): Promise<number> {
  let ok = 0;
  for (let i = 0; i < n; i++) {
    try {
      await call();
      ok++;
    } catch (error) {
      expect(ConnectError.from(error).code).toBe(Code.ResourceExhausted);
    }
  }
  return ok;
}

describe("createRateLimitInterceptor: unary calls", () => {
  it("answers ResourceExhausted with the wait in the message and retry-after", async () => {
    const { clock, control } = setup({ rules: [{ match: GET_HEALTH, rate: 0.4, burst: 2 }] });
    await control.getHealth({});
    await control.getHealth({});
    const error = await failure(control.getHealth({}));
    expect(error.code).toBe(Code.ResourceExhausted);
    expect(error.rawMessage).toBe(`rate limit exceeded for ${GET_HEALTH}; retry after 2500 ms`);
    expect(error.metadata.get("retry-after")).toBe("3");
    clock.advance(2500);
    await expect(control.getHealth({})).resolves.toMatchObject({ reason: "192.0.2.1" });
  });

  it("applies the first matching rule, then the default rule", async () => {
    const { control, health } = setup({
      rules: [
        { match: GET_HEALTH, rate: 0.001, burst: 1 },
        { match: /^\/connectplugin\.v1\.PluginControl\//, rate: 0.001, burst: 2 },
      ],
      defaultRule: { rate: 0.001, burst: 3 },
    });
    expect(await allowedOf(5, () => control.getHealth({}))).toBe(1);
    expect(await allowedOf(5, () => control.shutdown({}))).toBe(2);
    expect(await allowedOf(5, () => health.check({}))).toBe(3);
  });

  it("matches services by prefix and procedures by predicate", async () => {
    const { control, health } = setup({
      rules: [
        { match: "/connectplugin.v1.PluginControl/", rate: 0.001, burst: 1 },
        { match: (p) => p.endsWith("/Check"), rate: 0.001, burst: 2 },
      ],
      defaultRule: null,
    });
    // One bucket for the whole service.
    expect(await allowedOf(1, () => control.getHealth({}))).toBe(1);
    expect(await allowedOf(3, () => control.shutdown({}))).toBe(0);
    expect(await allowedOf(3, () => health.check({}))).toBe(2);
  });

  it("leaves procedures unlimited when no rule matches and defaultRule is null", async () => {
    const { health } = setup({
      rules: [{ match: GET_HEALTH, rate: 1, burst: 1 }],
      defaultRule: null,
    });
    expect(await allowedOf(50, () => health.check({}))).toBe(50);
  });

  it("keys by identity when authenticated, else by client IP", async () => {
    const { control } = setup({ rules: [{ match: GET_HEALTH, rate: 0.001, burst: 2 }] });
    const as = (identity?: string, address?: string) => () =>
      control.getHealth(
        {},
        {
          headers: {
            ...(identity ? { "x-test-identity": identity } : {}),
            ...(address ? { "x-test-address": address } : {}),
          },
        },
      );
    // One identity, two addresses: one budget.
    expect(await allowedOf(2, as("alice", "192.0.2.1"))).toBe(2);
    expect(await allowedOf(2, as("alice", "192.0.2.2"))).toBe(0);
    // Another identity from the same address: its own budget.
    expect(await allowedOf(3, as("bob", "192.0.2.1"))).toBe(2);
    // Unauthenticated: by address, separate from identities.
    expect(await allowedOf(3, as(undefined, "192.0.2.1"))).toBe(2);
    expect(await allowedOf(3, as(undefined, "::ffff:192.0.2.3"))).toBe(2);
  });

  it("uses keyFor, and exempts calls it returns undefined for", async () => {
    const { control } = setup({
      rules: [{ match: GET_HEALTH, rate: 0.001, burst: 1 }],
      keyFor: (req) => (req.header.get("x-internal") === "yes" ? undefined : "everyone"),
    });
    expect(await allowedOf(3, () => control.getHealth({}))).toBe(1);
    expect(
      await allowedOf(3, () => control.getHealth({}, { headers: { "x-internal": "yes" } })),
    ).toBe(3);
  });

  it("awaits asynchronous stores", async () => {
    const seen: string[] = [];
    const store: RateLimitStore = {
      consume: async (key) => {
        seen.push(key);
        return { allowed: false, remaining: 0, retryAfterMs: 1200 };
      },
      close: () => undefined,
    };
    const transport = createRouterTransport(createTestRoutes().routes, {
      router: { interceptors: [testContext, createRateLimitInterceptor({ store })] },
    });
    const error = await failure(createClient(PluginControl, transport).getHealth({}));
    expect(error.rawMessage).toBe(`rate limit exceeded for ${GET_HEALTH}; retry after 1200 ms`);
    expect(error.metadata.get("retry-after")).toBe("2");
    expect(seen).toEqual(["default|ip:192.0.2.1"]);
  });

  it("answers Unavailable, keeping the cause, when the store fails closed", async () => {
    const cause = new RateLimitError("store_unavailable", "Redis rate limit store failed: down");
    const store: RateLimitStore = {
      consume: () => Promise.reject(cause),
      close: () => undefined,
    };
    let seenByOuter: ConnectError | undefined;
    const outer: Interceptor = (next) => async (req) => {
      try {
        return await next(req);
      } catch (error) {
        seenByOuter = error as ConnectError;
        throw error;
      }
    };
    const test = createTestRoutes();
    const transport = createRouterTransport(test.routes, {
      router: { interceptors: [outer, testContext, createRateLimitInterceptor({ store })] },
    });
    const error = await failure(createClient(PluginControl, transport).getHealth({}));
    expect(error.code).toBe(Code.Unavailable);
    expect(error.rawMessage).toBe(`rate limit store unavailable; ${GET_HEALTH} rejected`);
    expect(seenByOuter?.cause).toBe(cause);
    expect(test.served).toEqual([]);
  });
});

describe("createRateLimitInterceptor: streams", () => {
  it("limits concurrent streams per caller and frees slots when streams end", async () => {
    const { health, test } = setup({
      rules: [{ match: WATCH, rate: 1000, burst: 1000, maxConcurrentStreams: 2 }],
    });
    const hold = async (identity?: string) => {
      const headers: Record<string, string> = identity ? { "x-test-identity": identity } : {};
      const it = health.watch({ service: "hold" }, { headers })[Symbol.asyncIterator]();
      await it.next(); // the stream is open on the server
      return it;
    };
    const open = [await hold(), await hold()];
    const third = await failure(hold());
    expect(third.code).toBe(Code.ResourceExhausted);
    expect(third.rawMessage).toBe(
      `concurrent stream limit (2) exceeded for ${WATCH}; retry after 1000 ms`,
    );
    expect(third.metadata.get("retry-after")).toBe("1");
    // Another caller has its own slots.
    open.push(await hold("alice"));
    // Ending the streams frees their slots.
    test.releaseHeld();
    for (const it of open.splice(0)) expect((await it.next()).done).toBe(true);
    open.push(await hold(), await hold());
    test.releaseHeld();
    for (const it of open.splice(0)) expect((await it.next()).done).toBe(true);
  });

  it("lets outer interceptors watch the end of a stream through its hooks instead of wrapping it", async () => {
    const store = createMemoryRateLimitStore({ sweepIntervalMs: 0 });
    stores.push(store);
    const ends: unknown[] = [];
    const hooks = Symbol.for("@cpg/stream-end-hooks");
    const outer: Interceptor = (next) => async (req) => {
      const res = await next(req);
      if (res.stream) {
        const add = (res.message as unknown as Record<symbol, unknown>)[hooks];
        expect(typeof add).toBe("function");
        (add as (hook: (end: unknown) => void) => void)((end) => ends.push(end));
      }
      return res;
    };
    const test = createTestRoutes();
    const transport = createRouterTransport(test.routes, {
      router: {
        interceptors: [
          outer,
          testContext,
          createRateLimitInterceptor({
            store,
            rules: [{ match: WATCH, rate: 1000, burst: 1000, maxConcurrentStreams: 1 }],
          }),
        ],
      },
    });
    const health = createClient(pluginHealthV1.HealthService, transport);
    const it = health.watch({ service: "hold" })[Symbol.asyncIterator]();
    await it.next();
    test.releaseHeld();
    expect((await it.next()).done).toBe(true);
    expect(ends).toEqual([{ failed: false, error: undefined }]);
    // The slot was released before the hook ran: a new stream is admitted.
    const again = health.watch({ service: "hold" })[Symbol.asyncIterator]();
    await again.next();
    test.releaseHeld();
    expect((await again.next()).done).toBe(true);
  });

  it("frees slots of streams that complete or fail", async () => {
    const { health } = setup({
      rules: [{ match: WATCH, rate: 1000, burst: 1000, maxConcurrentStreams: 1 }],
    });
    for (let i = 0; i < 3; i++) {
      const messages = [];
      for await (const m of health.watch({ service: "end" })) messages.push(m);
      expect(messages).toHaveLength(1);
    }
    for (let i = 0; i < 3; i++) {
      const error = await failure(
        (async () => {
          for await (const _ of health.watch({ service: "fail" })) {
            // drain
          }
        })(),
      );
      expect(error.code).toBe(Code.Aborted);
    }
  });

  it("rate-limits stream starts and frees the slot of a denied start", async () => {
    const { health } = setup({
      rules: [{ match: WATCH, rate: 0.001, burst: 2, maxConcurrentStreams: 1 }],
    });
    for (let i = 0; i < 2; i++) {
      for await (const _ of health.watch({ service: "end" })) {
        // drain
      }
    }
    for (let i = 0; i < 2; i++) {
      const denied = await failure(health.watch({ service: "end" })[Symbol.asyncIterator]().next());
      expect(denied.code).toBe(Code.ResourceExhausted);
      // Not the concurrency message: the slot of the denied start was freed.
      expect(denied.rawMessage).toMatch(/^rate limit exceeded for .*Watch; retry after \d+ ms$/);
    }
  });
});

describe("createRateLimitInterceptor: configuration", () => {
  it.each<[RateLimitInterceptorOptions, string]>([
    [
      { rules: [{ match: "connectplugin.v1.PluginControl/GetHealth", rate: 1, burst: 1 }] },
      'createRateLimitInterceptor: rules[0]: a string match is a procedure path like "/package.Service/Method" or a service prefix like "/package.Service/", got "connectplugin.v1.PluginControl/GetHealth"',
    ],
    [
      { rules: [{ match: /Health/g, rate: 1, burst: 1 }] },
      "createRateLimitInterceptor: rules[0]: remove the g and y flags from /Health/g; they make RegExp.test stateful",
    ],
    [
      {
        rules: [
          { match: GET_HEALTH, rate: 1, burst: 1 },
          { match: GET_HEALTH, rate: 2, burst: 2 },
        ],
      },
      `createRateLimitInterceptor: rules[1]: rule name "${GET_HEALTH}" is used twice; give each rule its own name`,
    ],
    [
      { rules: [{ name: "default", match: GET_HEALTH, rate: 1, burst: 1 }] },
      'createRateLimitInterceptor: rules[0]: rule name "default" is reserved for defaultRule; give each rule its own name',
    ],
    [
      { rules: [{ match: GET_HEALTH, rate: 1, burst: 1, maxConcurrentStreams: 0 }] },
      "createRateLimitInterceptor: rules[0]: maxConcurrentStreams must be an integer >= 1 or Infinity, got 0",
    ],
    [
      { defaultRule: { rate: -1, burst: 1 } },
      "createRateLimitInterceptor: defaultRule: rate must be a finite number of tokens per second > 0, got -1",
    ],
    [
      { ipv6PrefixLength: 0 },
      "createRateLimitInterceptor: ipv6PrefixLength must be an integer from 1 to 128, got 0",
    ],
    [
      { streamRetryAfterMs: 0.5 },
      "createRateLimitInterceptor: streamRetryAfterMs must be an integer number of milliseconds >= 1, got 0.5",
    ],
  ])("throws invalid_option (%#)", (options, message) => {
    expect(() => createRateLimitInterceptor(options)).toThrow(
      new RateLimitError("invalid_option", message),
    );
  });
});
