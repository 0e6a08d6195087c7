import { create } from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  createClient,
  createRouterTransport,
  type Interceptor,
} from "@connectrpc/connect";
import { PluginControl, pluginHealthV1 } from "@cpg/protocol";
import { describe, expect, it } from "vitest";
import { isPluginError } from "../plugin-error.js";
import { ChunkSchema, UploadService } from "../test-support/upload-service.js";
import { createRetryInterceptor, type RetryOptions } from "./retry-interceptor.js";

const { HealthService, ServingStatus } = pluginHealthV1;

/** A clock that only moves when the interceptor sleeps. */
function fakeTime() {
  let t = 0;
  const sleeps: number[] = [];
  return {
    sleeps,
    now: () => t,
    sleep: async (ms: number) => {
      sleeps.push(ms);
      t += ms;
    },
  };
}

const unavailable = (n: number) => new ConnectError(`down ${n}`, Code.Unavailable);

/**
 * A PluginControl client whose GetHealth fails with `fail(n)` for attempt
 * `n` (1-based) until it returns undefined.
 */
function controlClient(
  fail: (attempt: number) => ConnectError | undefined,
  options: RetryOptions,
  moreInterceptors: Interceptor[] = [],
) {
  const calls: { timeoutMs: number | undefined }[] = [];
  const transport = createRouterTransport(
    ({ service }) => {
      service(PluginControl, {
        getHealth(_req, ctx) {
          calls.push({ timeoutMs: ctx.timeoutMs() });
          const error = fail(calls.length);
          if (error) throw error;
          return { reason: `attempt ${calls.length}` };
        },
      });
    },
    {
      transport: {
        interceptors: [createRetryInterceptor(options), ...moreInterceptors],
      },
    },
  );
  return { client: createClient(PluginControl, transport), calls };
}

async function failure(promise: Promise<unknown>): Promise<ConnectError> {
  return promise.then(
    () => {
      throw new Error("expected the call to fail");
    },
    (e: unknown) => ConnectError.from(e),
  );
}

async function* chunks(...data: string[]) {
  for (const d of data) yield create(ChunkSchema, { data: d });
}

describe("createRetryInterceptor, unary calls", () => {
  it("retries retryable errors with jittered exponential backoff, then succeeds", async () => {
    const time = fakeTime();
    const { client, calls } = controlClient((n) => (n <= 2 ? unavailable(n) : undefined), {
      ...time,
      random: () => 0.5,
    });
    const res = await client.getHealth({});
    expect(res.reason).toBe("attempt 3");
    expect(calls).toHaveLength(3);
    // random() * min(maxBackoffMs, initialBackoffMs * 2 ** (retry - 1))
    expect(time.sleeps).toEqual([50, 100]);
  });

  it("caps the backoff at maxBackoffMs", async () => {
    const time = fakeTime();
    const { client } = controlClient((n) => (n <= 4 ? unavailable(n) : undefined), {
      ...time,
      random: () => 0.5,
      maxAttempts: 5,
      initialBackoffMs: 100,
      maxBackoffMs: 300,
    });
    expect((await client.getHealth({})).reason).toBe("attempt 5");
    expect(time.sleeps).toEqual([50, 100, 150, 150]);
  });

  it("gives up after maxAttempts with the last attempt's error", async () => {
    const time = fakeTime();
    const { client, calls } = controlClient(unavailable, { ...time, random: () => 0 });
    const error = await failure(client.getHealth({}));
    expect([error.code, error.rawMessage]).toEqual([Code.Unavailable, "down 3"]);
    expect(calls).toHaveLength(3);
    expect(time.sleeps).toEqual([0, 0]);
  });

  it("retries ResourceExhausted by default", async () => {
    const time = fakeTime();
    const { client, calls } = controlClient(
      (n) => (n === 1 ? new ConnectError("busy", Code.ResourceExhausted) : undefined),
      time,
    );
    expect((await client.getHealth({})).reason).toBe("attempt 2");
    expect(calls).toHaveLength(2);
  });

  it.each([
    Code.InvalidArgument,
    Code.PermissionDenied,
    Code.Unauthenticated,
    Code.NotFound,
    Code.FailedPrecondition,
    Code.DeadlineExceeded,
    Code.Canceled,
    Code.Aborted,
    Code.Internal,
    Code.Unknown,
    Code.Unimplemented,
  ])("never retries code %s by default", async (code) => {
    const time = fakeTime();
    const { client, calls } = controlClient(() => new ConnectError("no", code), time);
    const error = await failure(client.getHealth({}));
    expect([error.code, error.rawMessage]).toEqual([code, "no"]);
    expect(calls).toHaveLength(1);
    expect(time.sleeps).toEqual([]);
  });

  it("retries exactly retryableCodes when given", async () => {
    const time = fakeTime();
    const aborted = controlClient(
      (n) => (n === 1 ? new ConnectError("conflict", Code.Aborted) : undefined),
      { ...time, retryableCodes: [Code.Aborted] },
    );
    expect((await aborted.client.getHealth({})).reason).toBe("attempt 2");
    const down = controlClient(unavailable, { ...time, retryableCodes: [Code.Aborted] });
    expect((await failure(down.client.getHealth({}))).rawMessage).toBe("down 1");
    expect(down.calls).toHaveLength(1);
  });

  it("gives up when the time left before the deadline is shorter than the next backoff", async () => {
    const time = fakeTime();
    const { client, calls } = controlClient(unavailable, {
      ...time,
      random: () => 0.99,
      maxAttempts: 10,
    });
    const error = await failure(client.getHealth({}, { timeoutMs: 150 }));
    expect([error.code, error.rawMessage]).toEqual([Code.Unavailable, "down 2"]);
    // 99 ms fit in 150; the next wait (198 ms) does not fit in the 51 ms left.
    expect(time.sleeps).toEqual([99]);
    expect(calls).toHaveLength(2);
    // The re-issued call tells the server the time left.
    expect(calls[0]!.timeoutMs).toBeGreaterThan(51);
    expect(calls[1]!.timeoutMs).toBeLessThanOrEqual(51);
  });

  it("stops when the call is aborted while it waits, without another attempt", async () => {
    const controller = new AbortController();
    const signals: AbortSignal[] = [];
    const { client, calls } = controlClient(unavailable, {
      sleep: async (_ms, signal) => {
        signals.push(signal);
        controller.abort();
      },
    });
    const error = await failure(client.getHealth({}, { signal: controller.signal }));
    // The client reports why the call ended.
    expect(error.code).toBe(Code.Canceled);
    expect(calls).toHaveLength(1);
    expect(signals).toHaveLength(1);
    expect(signals[0]!.aborted).toBe(true);
  });

  it("the default sleep wakes up when the call is aborted", async () => {
    const controller = new AbortController();
    const { client, calls } = controlClient(
      () => {
        setTimeout(() => controller.abort(), 1);
        return new ConnectError("later", Code.Unavailable, { "retry-after": "60" });
      },
      { maxBackoffMs: 120_000 },
    );
    const started = performance.now();
    const error = await failure(client.getHealth({}, { signal: controller.signal }));
    expect(error.code).toBe(Code.Canceled);
    expect(calls).toHaveLength(1);
    expect(performance.now() - started).toBeLessThan(5_000);
  });

  it("waits as long as a retry-after hint says (seconds), without jitter", async () => {
    const time = fakeTime();
    const { client } = controlClient(
      (n) =>
        n === 1
          ? new ConnectError("slow down", Code.ResourceExhausted, { "retry-after": "1.5" })
          : undefined,
      { ...time, random: () => 0 },
    );
    expect((await client.getHealth({})).reason).toBe("attempt 2");
    expect(time.sleeps).toEqual([1500]);
  });

  it("does not wait for a retry-after hint longer than maxBackoffMs or the time left", async () => {
    const time = fakeTime();
    const hint = (seconds: string) => () =>
      new ConnectError("slow down", Code.ResourceExhausted, { "retry-after": seconds });
    const long = controlClient(hint("3"), time);
    expect((await failure(long.client.getHealth({}))).code).toBe(Code.ResourceExhausted);
    expect(long.calls).toHaveLength(1);
    const late = controlClient(hint("1"), time);
    expect((await failure(late.client.getHealth({}, { timeoutMs: 800 }))).code).toBe(
      Code.ResourceExhausted,
    );
    expect(late.calls).toHaveLength(1);
    expect(time.sleeps).toEqual([]);
  });

  it("ignores a retry-after hint that is not a number of seconds", async () => {
    const time = fakeTime();
    const { client } = controlClient(
      (n) =>
        n === 1
          ? new ConnectError("busy", Code.Unavailable, {
              "retry-after": "Wed, 21 Oct 2015 07:28:00 GMT",
            })
          : undefined,
      { ...time, random: () => 0.5 },
    );
    await client.getHealth({});
    expect(time.sleeps).toEqual([50]);
  });

  it("sends each attempt with a fresh copy of the request headers", async () => {
    const time = fakeTime();
    const seen: (string | null)[] = [];
    const stamp: Interceptor = (next) => async (req) => {
      seen.push(req.header.get("x-attempt"));
      req.header.set("x-attempt", "stamped");
      return next(req);
    };
    const { client } = controlClient((n) => (n <= 2 ? unavailable(n) : undefined), time, [stamp]);
    await client.getHealth({});
    expect(seen).toEqual([null, null, null]);
  });
});

describe("createRetryInterceptor, streaming calls", () => {
  function watchClient(
    impl: (attempt: number, service: string) => AsyncIterable<{ status: number }>,
    options: RetryOptions,
    moreInterceptors: Interceptor[] = [],
  ) {
    let attempts = 0;
    const transport = createRouterTransport(
      ({ service }) => {
        service(HealthService, {
          watch(req, ctx) {
            attempts++;
            ctx.responseHeader.set("x-attempt", String(attempts));
            ctx.responseTrailer.set("x-attempt-trailer", String(attempts));
            return impl(attempts, req.service);
          },
        });
      },
      { transport: { interceptors: [createRetryInterceptor(options), ...moreInterceptors] } },
    );
    return { client: createClient(HealthService, transport), attempts: () => attempts };
  }

  async function collect(stream: AsyncIterable<{ status: number }>) {
    const received: number[] = [];
    try {
      for await (const res of stream) received.push(res.status);
    } catch (e) {
      return { received, error: ConnectError.from(e) };
    }
    return { received, error: undefined };
  }

  it("re-issues a server stream that fails before its first message, with the same request", async () => {
    const time = fakeTime();
    const services: string[] = [];
    const { client, attempts } = watchClient(
      async function* (attempt, service) {
        services.push(service);
        if (attempt <= 2) throw unavailable(attempt);
        yield { status: ServingStatus.SERVING };
        yield { status: ServingStatus.NOT_SERVING };
      },
      { ...time, random: () => 0.5 },
    );
    const result = await collect(client.watch({ service: "kv.v1.KVService" }));
    expect(result).toEqual({
      received: [ServingStatus.SERVING, ServingStatus.NOT_SERVING],
      error: undefined,
    });
    expect(attempts()).toBe(3);
    expect(services).toEqual(["kv.v1.KVService", "kv.v1.KVService", "kv.v1.KVService"]);
    expect(time.sleeps).toEqual([50, 100]);
  });

  it("shows the headers and trailers of the attempt that delivered", async () => {
    const time = fakeTime();
    const { client } = watchClient(async function* (attempt) {
      if (attempt === 1) throw unavailable(attempt);
      yield { status: ServingStatus.SERVING };
    }, time);
    let header: Headers | undefined;
    let trailer: Headers | undefined;
    const result = await collect(
      client.watch(
        { service: "" },
        {
          onHeader: (h) => {
            header = h;
          },
          onTrailer: (t) => {
            trailer = t;
          },
        },
      ),
    );
    expect(result).toEqual({ received: [ServingStatus.SERVING], error: undefined });
    expect(header?.get("x-attempt")).toBe("2");
    expect(trailer?.get("x-attempt-trailer")).toBe("2");
  });

  it("re-issues a server stream whose call fails before it has a response", async () => {
    const time = fakeTime();
    let sent = 0;
    const refuseFirst: Interceptor = (next) => async (req) => {
      if (++sent === 1) throw new ConnectError("connection refused", Code.Unavailable);
      return next(req);
    };
    const { client, attempts } = watchClient(
      async function* () {
        yield { status: ServingStatus.SERVING };
      },
      time,
      [refuseFirst],
    );
    expect(await collect(client.watch({ service: "" }))).toEqual({
      received: [ServingStatus.SERVING],
      error: undefined,
    });
    expect([sent, attempts()]).toEqual([2, 1]);
    expect(time.sleeps).toHaveLength(1);
  });

  it("passes errors through once a message was delivered", async () => {
    const time = fakeTime();
    const { client, attempts } = watchClient(async function* (attempt) {
      yield { status: ServingStatus.SERVING };
      throw unavailable(attempt);
    }, time);
    const result = await collect(client.watch({ service: "" }));
    expect(result.received).toEqual([ServingStatus.SERVING]);
    expect([result.error?.code, result.error?.rawMessage]).toEqual([Code.Unavailable, "down 1"]);
    expect(attempts()).toBe(1);
    expect(time.sleeps).toEqual([]);
  });

  it("does not re-issue a server stream that completed without messages", async () => {
    const time = fakeTime();
    const { client, attempts } = watchClient(async function* () {}, time);
    expect(await collect(client.watch({ service: "" }))).toEqual({
      received: [],
      error: undefined,
    });
    expect(attempts()).toBe(1);
  });

  it("gives up on a server stream after maxAttempts with the last error", async () => {
    const time = fakeTime();
    const { client, attempts } = watchClient(
      // biome-ignore lint/correctness/useYield: fails before its first message
      async function* (attempt) {
        throw unavailable(attempt);
      },
      { ...time, maxAttempts: 2 },
    );
    const result = await collect(client.watch({ service: "" }));
    expect([result.error?.code, result.error?.rawMessage]).toEqual([Code.Unavailable, "down 2"]);
    expect(attempts()).toBe(2);
  });

  it("never retries client-streaming or bidi-streaming calls", async () => {
    const time = fakeTime();
    let attempts = 0;
    const transport = createRouterTransport(
      ({ service }) => {
        service(UploadService, {
          async upload(requests) {
            attempts++;
            for await (const _ of requests);
            throw unavailable(attempts);
          },
          // biome-ignore lint/correctness/useYield: fails before its first message
          async *chat(requests) {
            attempts++;
            for await (const _ of requests);
            throw unavailable(attempts);
          },
        });
      },
      { transport: { interceptors: [createRetryInterceptor(time)] } },
    );
    const client = createClient(UploadService, transport);
    const upload = await failure(client.upload(chunks("a", "b")));
    expect([upload.code, upload.rawMessage]).toEqual([Code.Unavailable, "down 1"]);
    const chat = await failure(
      (async () => {
        for await (const _ of client.chat(chunks("a")));
      })(),
    );
    expect([chat.code, chat.rawMessage]).toEqual([Code.Unavailable, "down 2"]);
    expect(attempts).toBe(2);
    expect(time.sleeps).toEqual([]);
  });
});

describe("createRetryInterceptor options", () => {
  it.each([
    [{ maxAttempts: 0 }, "createRetryInterceptor: maxAttempts must be an integer >= 1, got 0"],
    [
      { initialBackoffMs: 1.5 },
      "createRetryInterceptor: initialBackoffMs must be an integer >= 1, got 1.5",
    ],
    [
      { initialBackoffMs: 500, maxBackoffMs: 200 },
      "createRetryInterceptor: maxBackoffMs (200) must be >= initialBackoffMs (500)",
    ],
    [
      { retryableCodes: [] },
      "createRetryInterceptor: retryableCodes must be a non-empty array of Code values, got []",
    ],
    [
      { retryableCodes: [99 as Code] },
      "createRetryInterceptor: retryableCodes must only hold Code values from @connectrpc/connect (1 to 16), got 99",
    ],
    [
      { sleep: 5 as unknown as RetryOptions["sleep"] },
      "createRetryInterceptor: sleep must be a function, got number",
    ],
  ])("rejects %o at construction", (options, message) => {
    let error: unknown;
    try {
      createRetryInterceptor(options as RetryOptions);
    } catch (e) {
      error = e;
    }
    expect(isPluginError(error)).toBe(true);
    expect(error).toMatchObject({ code: "invalid_config", message });
  });

  it("does not change the caller's options", () => {
    const options: RetryOptions = { maxAttempts: 2 };
    createRetryInterceptor(options);
    expect(options).toEqual({ maxAttempts: 2 });
  });
});
