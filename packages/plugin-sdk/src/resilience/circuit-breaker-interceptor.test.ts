import { create } from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  createClient,
  createRouterTransport,
  type Interceptor,
} from "@connectrpc/connect";
import { createAsyncIterable } from "@connectrpc/connect/protocol";
import { PluginControl, pluginHealthV1 } from "@cpg/protocol";
import { describe, expect, it } from "vitest";
import { isPluginError } from "../plugin-error.js";
import {
  type CircuitBreakerOptions,
  createCircuitBreakerInterceptor,
} from "./circuit-breaker-interceptor.js";
import { createRetryInterceptor } from "./retry-interceptor.js";

const { HealthService, ServingStatus } = pluginHealthV1;
const CONTROL = "connectplugin.v1.PluginControl";
const HEALTH = "connectplugin.health.v1.HealthService";

function fakeClock() {
  let t = 0;
  return {
    now: () => t,
    advance(ms: number) {
      t += ms;
    },
  };
}

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/**
 * Clients of PluginControl (GetHealth answers with `behaviour()`) and
 * HealthService (Check always succeeds; Watch runs `watch()`), sharing one
 * breaker.
 */
function setup(options: CircuitBreakerOptions, more: Interceptor[] = []) {
  const clock = fakeClock();
  const breaker = createCircuitBreakerInterceptor({ now: clock.now, ...options });
  const served = { control: 0, health: 0 };
  let behaviour: () => Promise<void> | void = () => {};
  let watch: () => AsyncIterable<{ status: number }> = async function* () {};
  const transport = createRouterTransport(
    ({ service }) => {
      service(PluginControl, {
        async getHealth() {
          served.control++;
          await behaviour();
          return { reason: "ok" };
        },
      });
      service(HealthService, {
        check() {
          served.health++;
          return { status: ServingStatus.SERVING };
        },
        watch() {
          served.health++;
          return watch();
        },
      });
    },
    { transport: { interceptors: [...more, breaker] } },
  );
  return {
    clock,
    breaker,
    served,
    transport,
    control: createClient(PluginControl, transport),
    health: createClient(HealthService, transport),
    behave(fn: () => Promise<void> | void) {
      behaviour = fn;
    },
    watchWith(fn: () => AsyncIterable<{ status: number }>) {
      watch = fn;
    },
  };
}

const fail = (code: Code) => () => {
  throw new ConnectError("server says no", code);
};

async function outcome(promise: Promise<unknown>): Promise<ConnectError | "ok"> {
  return promise.then(
    () => "ok" as const,
    (e: unknown) => ConnectError.from(e),
  );
}

// biome-ignore lint/correctness/useYield: fails before its first message
async function* failBeforeFirstMessage(): AsyncGenerator<{ status: number }> {
  throw new ConnectError("down", Code.Unavailable);
}

async function drain(stream: AsyncIterable<unknown>) {
  for await (const _ of stream);
}

describe("createCircuitBreakerInterceptor", () => {
  it("opens after failureThreshold consecutive failures and rejects fast with Unavailable", async () => {
    const s = setup({ failureThreshold: 3 });
    s.behave(fail(Code.Unavailable));
    for (let i = 0; i < 2; i++) await outcome(s.control.getHealth({}));
    expect(s.breaker.state(CONTROL)).toBe("closed");
    await outcome(s.control.getHealth({}));
    expect(s.breaker.state(CONTROL)).toBe("open");
    expect(s.served.control).toBe(3);

    s.clock.advance(2_500);
    const error = await outcome(s.control.getHealth({}));
    expect(error).toBeInstanceOf(ConnectError);
    const e = error as ConnectError;
    expect([e.code, e.rawMessage]).toEqual([
      Code.Unavailable,
      `circuit open for ${CONTROL}; retry after 7500 ms`,
    ]);
    expect(e.metadata.get("retry-after")).toBe("8");
    expect(s.served.control).toBe(3);
  });

  it.each([Code.Unavailable, Code.DeadlineExceeded, Code.Internal, Code.Unknown])(
    "counts code %s as a failure by default",
    async (code) => {
      const s = setup({ failureThreshold: 2 });
      s.behave(fail(code));
      await outcome(s.control.getHealth({}));
      await outcome(s.control.getHealth({}));
      expect(s.breaker.state(CONTROL)).toBe("open");
    },
  );

  it("does not count the caller's errors, and they break a run of failures", async () => {
    const s = setup({ failureThreshold: 3 });
    for (const code of [
      Code.InvalidArgument,
      Code.NotFound,
      Code.PermissionDenied,
      Code.Unauthenticated,
      Code.FailedPrecondition,
      Code.ResourceExhausted,
      Code.Canceled,
    ]) {
      s.behave(fail(code));
      await outcome(s.control.getHealth({}));
    }
    expect(s.breaker.state(CONTROL)).toBe("closed");

    const sequence = [Code.Unavailable, Code.Unavailable, Code.InvalidArgument];
    for (const code of [...sequence, Code.Unavailable, Code.Unavailable]) {
      s.behave(fail(code));
      await outcome(s.control.getHealth({}));
    }
    expect(s.breaker.state(CONTROL)).toBe("closed");
    s.behave(() => {});
    await outcome(s.control.getHealth({}));
    s.behave(fail(Code.Unavailable));
    await outcome(s.control.getHealth({}));
    await outcome(s.control.getHealth({}));
    expect(s.breaker.state(CONTROL)).toBe("closed");
  });

  it("counts exactly failureCodes when given", async () => {
    const s = setup({ failureThreshold: 1, failureCodes: [Code.ResourceExhausted] });
    s.behave(fail(Code.Unavailable));
    await outcome(s.control.getHealth({}));
    expect(s.breaker.state(CONTROL)).toBe("closed");
    s.behave(fail(Code.ResourceExhausted));
    await outcome(s.control.getHealth({}));
    expect(s.breaker.state(CONTROL)).toBe("open");
  });

  it("turns half-open after openMs and lets halfOpenMaxCalls probes through; success closes it", async () => {
    const s = setup({ failureThreshold: 1, openMs: 1_000 });
    s.behave(fail(Code.Unavailable));
    await outcome(s.control.getHealth({}));
    s.clock.advance(999);
    expect(s.breaker.state(CONTROL)).toBe("open");
    s.clock.advance(1);
    expect(s.breaker.state(CONTROL)).toBe("half-open");

    const gate = deferred();
    s.behave(() => gate.promise);
    const probe = outcome(s.control.getHealth({}));
    const refused = await outcome(s.control.getHealth({}));
    expect(refused).toMatchObject({
      code: Code.Unavailable,
      rawMessage: `circuit half-open for ${CONTROL}; waiting for 1 probe call(s)`,
    });
    expect(s.breaker.state(CONTROL)).toBe("half-open");

    gate.resolve();
    expect(await probe).toBe("ok");
    expect(s.breaker.state(CONTROL)).toBe("closed");
    expect(await outcome(s.control.getHealth({}))).toBe("ok");
    expect(await outcome(s.control.getHealth({}))).toBe("ok");
  });

  it("lets up to halfOpenMaxCalls probes run at the same time", async () => {
    const s = setup({ failureThreshold: 1, openMs: 1_000, halfOpenMaxCalls: 2 });
    s.behave(fail(Code.Unavailable));
    await outcome(s.control.getHealth({}));
    s.clock.advance(1_000);

    const gate = deferred();
    s.behave(() => gate.promise);
    const probes = [outcome(s.control.getHealth({})), outcome(s.control.getHealth({}))];
    expect(await outcome(s.control.getHealth({}))).toMatchObject({ code: Code.Unavailable });
    gate.resolve();
    expect(await Promise.all(probes)).toEqual(["ok", "ok"]);
    expect(s.served.control).toBe(3);
    expect(s.breaker.state(CONTROL)).toBe("closed");
  });

  it("reopens for openMs when a probe fails", async () => {
    const s = setup({ failureThreshold: 1, openMs: 1_000 });
    s.behave(fail(Code.Unavailable));
    await outcome(s.control.getHealth({}));
    s.clock.advance(5_000);
    expect(s.breaker.state(CONTROL)).toBe("half-open");
    s.behave(fail(Code.Internal));
    expect(await outcome(s.control.getHealth({}))).toMatchObject({ code: Code.Internal });
    expect(s.breaker.state(CONTROL)).toBe("open");
    expect(await outcome(s.control.getHealth({}))).toMatchObject({
      code: Code.Unavailable,
      rawMessage: `circuit open for ${CONTROL}; retry after 1000 ms`,
    });
    s.clock.advance(1_000);
    expect(s.breaker.state(CONTROL)).toBe("half-open");
  });

  it("frees the probe slot of a probe the caller cancels, without deciding", async () => {
    const s = setup({ failureThreshold: 1, openMs: 1_000 });
    s.behave(fail(Code.Unavailable));
    await outcome(s.control.getHealth({}));
    s.clock.advance(1_000);

    const gate = deferred();
    s.behave(() => gate.promise);
    const controller = new AbortController();
    const probe = outcome(s.control.getHealth({}, { signal: controller.signal }));
    controller.abort();
    expect(await probe).toMatchObject({ code: Code.Canceled });
    expect(s.breaker.state(CONTROL)).toBe("half-open");
    s.behave(() => {});
    expect(await outcome(s.control.getHealth({}))).toBe("ok");
    expect(s.breaker.state(CONTROL)).toBe("closed");
    gate.resolve();
  });

  it("frees the probe slot of a stream abandoned before its first message when its call ends", async () => {
    const s = setup({ failureThreshold: 1, openMs: 1_000 });
    s.watchWith(failBeforeFirstMessage);
    await outcome(drain(s.health.watch({ service: "" })));
    s.clock.advance(1_000);

    s.watchWith(async function* () {
      yield { status: ServingStatus.SERVING };
    });
    const controller = new AbortController();
    // Open the stream without reading it.
    await s.transport.stream(
      HealthService.method.watch,
      controller.signal,
      undefined,
      undefined,
      createAsyncIterable([create(HealthService.method.watch.input, { service: "" })]),
    );
    expect(await outcome(s.health.check({ service: "" }))).toMatchObject({
      code: Code.Unavailable,
    });
    controller.abort();
    expect(await outcome(s.health.check({ service: "" }))).toBe("ok");
    expect(s.breaker.state(HEALTH)).toBe("closed");
  });

  it("keeps one circuit per service", async () => {
    const s = setup({ failureThreshold: 1 });
    s.behave(fail(Code.Unavailable));
    await outcome(s.control.getHealth({}));
    expect(s.breaker.state(CONTROL)).toBe("open");
    expect(s.breaker.state(HEALTH)).toBe("closed");
    expect(await outcome(s.health.check({ service: "" }))).toBe("ok");
    expect(s.served.health).toBe(1);
  });

  it("keys circuits with the key option", async () => {
    const s = setup({
      failureThreshold: 1,
      key: (req) => req.header.get("x-tenant") ?? "none",
    });
    s.behave(fail(Code.Unavailable));
    await outcome(s.control.getHealth({}, { headers: { "x-tenant": "a" } }));
    expect([s.breaker.state("a"), s.breaker.state("b")]).toEqual(["open", "closed"]);
    s.behave(() => {});
    expect(await outcome(s.control.getHealth({}, { headers: { "x-tenant": "b" } }))).toBe("ok");
    expect(await outcome(s.control.getHealth({}, { headers: { "x-tenant": "a" } }))).toMatchObject({
      code: Code.Unavailable,
      rawMessage: "circuit open for a; retry after 10000 ms",
    });
  });

  it("reset closes one circuit or all of them", async () => {
    const s = setup({ failureThreshold: 1 });
    s.behave(fail(Code.Unavailable));
    s.watchWith(failBeforeFirstMessage);
    await outcome(s.control.getHealth({}));
    await outcome(drain(s.health.watch({ service: "" })));
    expect([s.breaker.state(CONTROL), s.breaker.state(HEALTH)]).toEqual(["open", "open"]);
    s.breaker.reset(CONTROL);
    expect([s.breaker.state(CONTROL), s.breaker.state(HEALTH)]).toEqual(["closed", "open"]);
    s.breaker.reset();
    expect(s.breaker.state(HEALTH)).toBe("closed");
    s.behave(() => {});
    expect(await outcome(s.control.getHealth({}))).toBe("ok");
  });

  it("counts a stream that fails before its first message as a failure", async () => {
    const s = setup({ failureThreshold: 2 });
    s.watchWith(failBeforeFirstMessage);
    await outcome(drain(s.health.watch({ service: "" })));
    await outcome(drain(s.health.watch({ service: "" })));
    expect(s.breaker.state(HEALTH)).toBe("open");
    expect(await outcome(drain(s.health.watch({ service: "" })))).toMatchObject({
      code: Code.Unavailable,
      rawMessage: `circuit open for ${HEALTH}; retry after 10000 ms`,
    });
    expect(s.served.health).toBe(2);
  });

  it("counts a stream that delivers a message, or completes, as a success", async () => {
    const s = setup({ failureThreshold: 2 });
    s.watchWith(async function* () {
      yield { status: ServingStatus.SERVING };
      throw new ConnectError("later", Code.Unavailable);
    });
    for (let i = 0; i < 3; i++) {
      expect(await outcome(drain(s.health.watch({ service: "" })))).toMatchObject({
        code: Code.Unavailable,
      });
    }
    expect(s.breaker.state(HEALTH)).toBe("closed");

    s.watchWith(failBeforeFirstMessage);
    await outcome(drain(s.health.watch({ service: "" })));
    s.watchWith(async function* () {});
    await outcome(drain(s.health.watch({ service: "" })));
    s.watchWith(failBeforeFirstMessage);
    await outcome(drain(s.health.watch({ service: "" })));
    expect(s.breaker.state(HEALTH)).toBe("closed");
  });

  it("ends a retry interceptor's retries at once while open", async () => {
    const sleeps: number[] = [];
    const retry = createRetryInterceptor({
      maxAttempts: 5,
      random: () => 0,
      sleep: async (ms) => void sleeps.push(ms),
    });
    const s = setup({ failureThreshold: 2 }, [retry]);
    s.behave(fail(Code.Unavailable));
    const error = await outcome(s.control.getHealth({}));
    // Two attempts reach the server; the third meets the open circuit, whose
    // retry-after (10 s) is longer than the retry's maxBackoffMs.
    expect(error).toMatchObject({
      code: Code.Unavailable,
      rawMessage: `circuit open for ${CONTROL}; retry after 10000 ms`,
    });
    expect(s.served.control).toBe(2);
    expect(sleeps).toEqual([0, 0]);
  });
});

describe("createCircuitBreakerInterceptor options", () => {
  it.each([
    [
      { failureThreshold: 0 },
      "createCircuitBreakerInterceptor: failureThreshold must be an integer >= 1, got 0",
    ],
    [{ openMs: -1 }, "createCircuitBreakerInterceptor: openMs must be an integer >= 1, got -1"],
    [
      { halfOpenMaxCalls: Number.NaN },
      "createCircuitBreakerInterceptor: halfOpenMaxCalls must be an integer >= 1, got NaN",
    ],
    [
      { failureCodes: [] },
      "createCircuitBreakerInterceptor: failureCodes must be a non-empty array of Code values, got []",
    ],
    [
      { key: "service" as unknown as CircuitBreakerOptions["key"] },
      "createCircuitBreakerInterceptor: key must be a function, got string",
    ],
  ])("rejects %o at construction", (options, message) => {
    let error: unknown;
    try {
      createCircuitBreakerInterceptor(options as CircuitBreakerOptions);
    } catch (e) {
      error = e;
    }
    expect(isPluginError(error)).toBe(true);
    expect(error).toMatchObject({ code: "invalid_config", message });
  });
});
