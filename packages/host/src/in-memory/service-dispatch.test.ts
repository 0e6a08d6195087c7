import { getEventListeners } from "node:events";
import { create } from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  type ConnectRouter,
  createContextValues,
  type Interceptor,
  type ServiceImpl,
} from "@connectrpc/connect";
import {
  EchoBidiStreamRequestSchema,
  EchoClientStreamRequestSchema,
  type EchoRequest,
  EchoRequestSchema,
  EchoResponseSchema,
  EchoServerStreamRequestSchema,
  EchoService,
} from "@cpg/examples-proto";
import { grpcHealthV1 } from "@cpg/protocol";
import { afterEach, describe, expect, it, vi } from "vitest";
import { countMessages } from "../test-support/echo-streams.js";
import { createServiceDispatch, type DispatchedCall, NEVER_ABORTED } from "./service-dispatch.js";

const { echo, echoServerStream, echoBidiStream } = EchoService.method;

afterEach(() => {
  vi.useRealTimers();
});

/** A fake in-process plugin: `impl` on its router, and `interceptors`. */
function fakePlugin(
  impl: Partial<ServiceImpl<typeof EchoService>>,
  interceptors: Interceptor[] = [],
) {
  return {
    routes(router: ConnectRouter) {
      router.service(EchoService, impl);
    },
    interceptors,
  };
}

function call(init: Partial<DispatchedCall> = {}): DispatchedCall {
  return {
    header: new Headers(),
    signal: new AbortController().signal,
    timeoutMs: undefined,
    contextValues: createContextValues(),
    ...init,
  };
}

const request = (message: string): EchoRequest => create(EchoRequestSchema, { message });

async function* messages<T>(...values: T[]): AsyncGenerator<T> {
  yield* values;
}

async function* bidiReplies(requests: AsyncIterable<{ message: string }>, prefix = "") {
  for await (const r of requests) yield { message: `${prefix}${r.message}` };
}

const bidiRequests = (...texts: string[]) =>
  messages(...texts.map((message) => create(EchoBidiStreamRequestSchema, { message })));

async function rejection(promise: Promise<unknown>): Promise<ConnectError> {
  try {
    await promise;
  } catch (error) {
    return ConnectError.from(error);
  }
  throw new Error("expected the call to fail");
}

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const value of iterable) out.push(value);
  return out;
}

describe("createServiceDispatch", () => {
  it("tells which methods the plugin serves", () => {
    const dispatch = createServiceDispatch(
      fakePlugin({ echo: (req) => ({ message: req.message }) }),
    );
    // A registered service is served whole (Connect answers its missing methods).
    expect(dispatch.serves(echo)).toBe(true);
    expect(dispatch.serves(echoBidiStream)).toBe(true);
    expect(dispatch.serves(grpcHealthV1.Health.method.check)).toBe(false);
  });

  it("answers unimplemented for a method the plugin does not implement", async () => {
    const dispatch = createServiceDispatch(
      fakePlugin({ echo: (req) => ({ message: req.message }) }),
    );

    const missing = await rejection(dispatch.stream(echoBidiStream, bidiRequests("x"), call()));
    expect(missing.code).toBe(Code.Unimplemented);
    expect(missing.rawMessage).toBe(
      "cpg.examples.v1.EchoService.EchoBidiStream is not implemented",
    );

    const otherService = await rejection(
      dispatch.unary(
        grpcHealthV1.Health.method.check,
        create(grpcHealthV1.HealthCheckRequestSchema),
        call(),
      ),
    );
    expect(otherService.code).toBe(Code.Unimplemented);
    expect(otherService.rawMessage).toBe("grpc.health.v1.Health.Check is not implemented");
  });

  it("runs the plugin's interceptors in order, the first outermost, with the request headers", async () => {
    const order: string[] = [];
    const recording =
      (name: string): Interceptor =>
      (next) =>
      async (req) => {
        order.push(`${name} in ${req.method.name} ${req.header.get("x-trace") ?? ""}`);
        const res = await next(req);
        order.push(`${name} out`);
        return res;
      };
    const dispatch = createServiceDispatch(
      fakePlugin(
        {
          echo(req) {
            order.push("implementation");
            return { message: req.message };
          },
        },
        [recording("first"), recording("second")],
      ),
    );

    await dispatch.unary(echo, request("hi"), call({ header: new Headers({ "x-trace": "t1" }) }));

    expect(order).toEqual([
      "first in Echo t1",
      "second in Echo t1",
      "implementation",
      "second out",
      "first out",
    ]);
  });

  it("gives the implementation what the interceptors changed", async () => {
    let seen: string | null = null;
    let url = "";
    const dispatch = createServiceDispatch(
      fakePlugin(
        {
          echo(req, ctx) {
            seen = ctx.requestHeader.get("x-added");
            url = ctx.url;
            ctx.responseHeader.set("x-from-impl", "impl");
            ctx.responseTrailer.set("x-trailer", "done");
            return { message: req.message };
          },
        },
        [
          (next) => (req) => {
            const header = new Headers(req.header);
            header.set("x-added", "by-interceptor");
            return next({ ...req, header });
          },
        ],
      ),
    );

    const res = await dispatch.unary(echo, request("hi"), call());

    expect(seen).toBe("by-interceptor");
    expect(url).toBe("memory://plugin/cpg.examples.v1.EchoService/Echo");
    // Set on the context the implementation saw, returned to the caller all the same.
    expect(res.header.get("x-from-impl")).toBe("impl");
    expect(res.trailer.get("x-trailer")).toBe("done");
  });

  it("returns the response headers and trailers set by the implementation and the interceptors", async () => {
    const dispatch = createServiceDispatch(
      fakePlugin(
        {
          echo(req, ctx) {
            ctx.responseHeader.set("x-from-impl", "impl");
            ctx.responseTrailer.set("x-trailer", "done");
            return { message: req.message };
          },
        },
        [
          (next) => async (req) => {
            const res = await next(req);
            res.header.set("x-from-interceptor", "interceptor");
            return res;
          },
        ],
      ),
    );

    const res = await dispatch.unary(echo, request("hi"), call());

    expect(res.message.message).toBe("hi");
    expect(res.header.get("x-from-impl")).toBe("impl");
    expect(res.header.get("x-from-interceptor")).toBe("interceptor");
    expect(res.trailer.get("x-trailer")).toBe("done");
  });

  it("clones messages both ways", async () => {
    const shared = create(EchoResponseSchema, { message: "shared" });
    let received: EchoRequest | undefined;
    const dispatch = createServiceDispatch(
      fakePlugin({
        echo(req) {
          received = req;
          return shared;
        },
      }),
    );
    const sent = request("hi");

    const res = await dispatch.unary(echo, sent, call());

    expect(received).not.toBe(sent);
    expect(received?.message).toBe("hi");
    expect(res.message).not.toBe(shared);
    expect(res.message).toEqual(shared);
  });

  it("ends a call at its deadline and then lets go of the caller's signal", async () => {
    const caller = new AbortController();
    let providerSignal: AbortSignal | undefined;
    const dispatch = createServiceDispatch(
      fakePlugin({
        echo(_req, ctx) {
          providerSignal = ctx.signal;
          return new Promise(() => {});
        },
      }),
    );

    const error = await rejection(
      dispatch.unary(echo, request("slow"), call({ signal: caller.signal, timeoutMs: 20 })),
    );

    expect(error.code).toBe(Code.DeadlineExceeded);
    expect(providerSignal?.aborted).toBe(true);
    expect(getEventListeners(caller.signal, "abort")).toHaveLength(0);
  });

  it("ends a server stream at its deadline while the implementation waits", async () => {
    let finished = false;
    const dispatch = createServiceDispatch(
      fakePlugin({
        async *echoServerStream(req) {
          try {
            yield { message: req.message, index: 0 };
            await new Promise(() => {});
          } finally {
            finished = true;
          }
        },
      }),
    );
    const res = await dispatch.stream(
      echoServerStream,
      messages(create(EchoServerStreamRequestSchema, { message: "s", count: 2 })),
      call({ timeoutMs: 20 }),
    );
    const received: number[] = [];

    const error = await rejection(
      (async () => {
        for await (const m of res.message) received.push(m.index);
      })(),
    );

    expect(error.code).toBe(Code.DeadlineExceeded);
    expect(received).toEqual([0]);
    // Stuck in an await, the generator cannot be closed.
    expect(finished).toBe(false);
  });

  it("stops the deadline timer of a stream its interceptors refuse", async () => {
    vi.useFakeTimers();
    const caller = new AbortController();
    const dispatch = createServiceDispatch(
      fakePlugin({ echoBidiStream: (requests) => bidiReplies(requests) }, [
        () => () => {
          throw new ConnectError("draining", Code.Unavailable);
        },
      ]),
    );

    const error = await rejection(
      dispatch.stream(
        echoBidiStream,
        bidiRequests("x"),
        call({ signal: caller.signal, timeoutMs: 60_000 }),
      ),
    );

    expect(error.code).toBe(Code.Unavailable);
    expect(vi.getTimerCount()).toBe(0);
    expect(getEventListeners(caller.signal, "abort")).toHaveLength(0);
  });

  it("lets go of the caller's signal at the deadline of a stream nobody reads", async () => {
    vi.useFakeTimers();
    const caller = new AbortController();
    const dispatch = createServiceDispatch(
      fakePlugin({ echoBidiStream: (requests) => bidiReplies(requests) }),
    );

    const withSignal = await dispatch.stream(
      echoBidiStream,
      bidiRequests("x"),
      call({ signal: caller.signal, timeoutMs: 1000 }),
    );
    // Calls without a signal share NEVER_ABORTED: nothing may listen to it.
    await dispatch.stream(
      echoBidiStream,
      bidiRequests("y"),
      call({ signal: NEVER_ABORTED, timeoutMs: 1000 }),
    );
    expect(getEventListeners(NEVER_ABORTED, "abort")).toHaveLength(0);
    expect(getEventListeners(caller.signal, "abort")).toHaveLength(1);

    vi.advanceTimersByTime(1000);

    expect(getEventListeners(caller.signal, "abort")).toHaveLength(0);
    expect(vi.getTimerCount()).toBe(0);
    // Read late, the stream reports its deadline.
    expect((await rejection(collect(withSignal.message))).code).toBe(Code.DeadlineExceeded);
  });

  it("serves client and bidi streams message by message", async () => {
    const dispatch = createServiceDispatch(
      fakePlugin({
        echoClientStream: countMessages,
        echoBidiStream: (requests) => bidiReplies(requests, "re:"),
      }),
    );

    const client = await dispatch.stream(
      EchoService.method.echoClientStream,
      messages(
        create(EchoClientStreamRequestSchema, { message: "a" }),
        create(EchoClientStreamRequestSchema, { message: "b" }),
      ),
      call(),
    );
    expect((await collect(client.message)).map((m) => [m.count, m.last])).toEqual([[2, "b"]]);

    const bidi = await dispatch.stream(echoBidiStream, bidiRequests("a", "b"), call());
    expect((await collect(bidi.message)).map((m) => m.message)).toEqual(["re:a", "re:b"]);
  });
});
