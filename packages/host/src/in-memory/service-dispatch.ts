import {
  clone,
  create,
  type DescMessage,
  type DescMethod,
  type DescService,
  isMessage,
  type MessageInitShape,
  type MessageShape,
} from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  type ConnectRouter,
  type ContextValues,
  createServiceImplSpec,
  type HandlerContext,
  type Interceptor,
  type MethodImplSpec,
  type StreamRequest,
  type StreamResponse,
  type UnaryRequest,
  type UnaryResponse,
} from "@connectrpc/connect";

/** The parts of an in-process plugin the host calls directly. */
export interface InProcessPlugin {
  /** Registers the plugin's services on a router (the SDK's `plugin.routes`). */
  routes(router: ConnectRouter): void;
  /** The interceptors every call served by the plugin goes through. */
  readonly interceptors: readonly Interceptor[];
}

/** One call handed to an in-process provider. */
export interface DispatchedCall {
  /** Request headers as the provider sees them (the router's, caller id included). */
  readonly header: Headers;
  /** Aborts the call (caller cancelled, deadline). */
  readonly signal: AbortSignal;
  /** Deadline in milliseconds from now, if any. */
  readonly timeoutMs: number | undefined;
  readonly contextValues: ContextValues;
}

/**
 * Calls the services of an in-process plugin as its Connect router would,
 * through the plugin's own interceptors, without serializing: request and
 * response messages are cloned, so caller and provider never share an
 * object.
 */
export interface ServiceDispatch {
  /** True when the plugin serves `method`. */
  serves(method: DescMethod): boolean;
  unary<I extends DescMessage, O extends DescMessage>(
    method: DescMethod & { input: I; output: O },
    message: MessageShape<I>,
    call: DispatchedCall,
  ): Promise<UnaryResponse<I, O>>;
  stream<I extends DescMessage, O extends DescMessage>(
    method: DescMethod & { input: I; output: O },
    messages: AsyncIterable<MessageShape<I>>,
    call: DispatchedCall,
  ): Promise<StreamResponse<I, O>>;
}

// A ConnectRouter that only records the implementations registered on it.
function captureImplementations(plugin: InProcessPlugin): Map<DescMethod, MethodImplSpec> {
  const specs = new Map<DescMethod, MethodImplSpec>();
  const recorder = {
    handlers: [],
    service(service: DescService, impl: object) {
      const spec = createServiceImplSpec(service, impl as never);
      for (const method of service.methods) specs.set(method, spec.methods[method.localName]!);
      return recorder;
    },
    rpc(method: DescMethod, impl: unknown) {
      specs.set(method, { kind: method.methodKind, method, impl } as MethodImplSpec);
      return recorder;
    },
  };
  plugin.routes(recorder as unknown as ConnectRouter);
  return specs;
}

/**
 * Creates the {@link ServiceDispatch} of an in-process plugin.
 */
export function createServiceDispatch(plugin: InProcessPlugin): ServiceDispatch {
  const specs = captureImplementations(plugin);
  const interceptors = [...plugin.interceptors];

  const contextFor = (method: DescMethod, call: DispatchedCall) => callContext(method, call);

  const specOf = (method: DescMethod): MethodImplSpec => {
    const spec = specs.get(method);
    if (spec === undefined) {
      throw new ConnectError(
        `${method.parent.typeName}.${method.name} is not implemented`,
        Code.Unimplemented,
      );
    }
    return spec;
  };

  return {
    serves: (method) => specs.has(method),

    async unary(method, message, call) {
      const spec = specOf(method);
      const context = contextFor(method, call);
      const impl = spec.impl as (req: unknown, ctx: HandlerContext) => unknown;
      const invoke = async (req: UnaryRequest): Promise<UnaryResponse> => {
        const result = impl(req.message, merged(context, req));
        const output = await (req.signal === NEVER_ABORTED
          ? result
          : untilAborted(Promise.resolve(result), req.signal));
        return {
          stream: false,
          ...responseCommon(method, context),
          message: copyOut(method.output, output),
        } as UnaryResponse;
      };
      const run = chain(interceptors, invoke as never) as (
        req: UnaryRequest,
      ) => Promise<UnaryResponse>;
      try {
        return (await run({
          stream: false,
          ...requestCommon(method, context),
          message: clone(method.input, message),
        } as UnaryRequest)) as never;
      } finally {
        context.release();
      }
    },

    async stream(method, messages, call) {
      const spec = specOf(method);
      const context = contextFor(method, call);
      const impl = spec.impl as (req: unknown, ctx: HandlerContext) => unknown;
      const invoke = async (req: StreamRequest): Promise<StreamResponse> => {
        const ctx = merged(context, req);
        let output: AsyncIterable<unknown>;
        switch (spec.kind) {
          case "server_streaming":
            output = impl(await single(req.message), ctx) as AsyncIterable<unknown>;
            break;
          case "client_streaming":
            output = once(impl(req.message, ctx) as Promise<unknown>);
            break;
          default:
            output = impl(req.message, ctx) as AsyncIterable<unknown>;
        }
        return {
          stream: true,
          ...responseCommon(method, context),
          message: copyEach(method.output, output, context),
        } as StreamResponse;
      };
      const run = chain(interceptors, invoke as never) as (
        req: StreamRequest,
      ) => Promise<StreamResponse>;
      try {
        return (await run({
          stream: true,
          ...requestCommon(method, context),
          message: copyEach(method.input, messages, undefined),
        } as StreamRequest)) as never;
      } catch (error) {
        // No response stream will release it (an interceptor refused the
        // call, the input message is missing...): stop the deadline timer now.
        context.release();
        throw error;
      }
    },
  };
}

// What a request and a response of a call carry besides the message, as
// Connect's own handlers fill them in.
const requestCommon = (method: DescMethod, context: HandlerContext) => ({
  service: method.parent,
  method,
  requestMethod: "POST",
  url: context.url,
  signal: context.signal,
  header: context.requestHeader,
  contextValues: context.values,
});
const responseCommon = (method: DescMethod, context: HandlerContext) => ({
  service: method.parent,
  method,
  header: context.responseHeader,
  trailer: context.responseTrailer,
});

/** A signal that never aborts: calls without one skip the race against it. */
export const NEVER_ABORTED: AbortSignal = new AbortController().signal;

type CallContext = HandlerContext & {
  /** Stops the deadline timer and unlinks the caller's signal. */
  release(): void;
};

/**
 * The context an implementation gets: built by hand rather than with
 * Connect's `createHandlerContext`, which links two abort controllers and
 * creates three header maps for every call; here a call without a deadline
 * reuses the caller's signal, and response headers are created on first use.
 */
function callContext(method: DescMethod, call: DispatchedCall): CallContext {
  let signal = call.signal;
  let release = () => {};
  let deadline: number | undefined;
  if (call.timeoutMs !== undefined) {
    deadline = Date.now() + call.timeoutMs;
    const controller = new AbortController();
    const onCallerAbort = () => {
      clearTimeout(timer);
      controller.abort(call.signal.reason);
    };
    // Once aborted, the call needs neither the timer nor the caller's signal
    // (a stream nobody reads is never released otherwise).
    release = () => {
      clearTimeout(timer);
      call.signal.removeEventListener("abort", onCallerAbort);
    };
    const timer = setTimeout(() => {
      release();
      controller.abort(new ConnectError("the operation timed out", Code.DeadlineExceeded));
    }, call.timeoutMs);
    if (call.signal.aborted) controller.abort(call.signal.reason);
    // NEVER_ABORTED is shared by every call without a signal: never listen to it.
    else if (call.signal !== NEVER_ABORTED) {
      call.signal.addEventListener("abort", onCallerAbort, { once: true });
    }
    signal = controller.signal;
  }
  return new InProcessCallContext(method, call, signal, deadline, release);
}

/**
 * The {@link CallContext} of one call. A class rather than an object literal:
 * V8 keeps a literal with accessors (the lazy response headers) in slow
 * dictionary mode, which makes every call pay for building and reading one.
 */
class InProcessCallContext implements CallContext {
  readonly service: DescMethod["parent"];
  readonly protocolName = "cpg-in-process";
  readonly requestMethod = "POST";
  readonly requestHeader: Headers;
  readonly values: HandlerContext["values"];
  private header: Headers | undefined;
  private trailer: Headers | undefined;
  // `merged` hands the implementation an object derived from this one: the
  // lazy headers live here, so that both see the same ones.
  private readonly root: InProcessCallContext = this;

  constructor(
    readonly method: DescMethod,
    call: DispatchedCall,
    readonly signal: AbortSignal,
    private readonly deadline: number | undefined,
    readonly release: () => void,
  ) {
    this.service = method.parent;
    this.requestHeader = call.header;
    this.values = call.contextValues;
  }

  get url(): string {
    return `memory://plugin/${this.service.typeName}/${this.method.name}`;
  }

  timeoutMs(): number | undefined {
    return this.deadline === undefined ? undefined : this.deadline - Date.now();
  }

  get responseHeader(): Headers {
    this.root.header ??= new Headers();
    return this.root.header;
  }

  get responseTrailer(): Headers {
    this.root.trailer ??= new Headers();
    return this.root.trailer;
  }
}

/** Applies interceptors the way Connect does: the first one is outermost. */
export function chain<T>(interceptors: readonly Interceptor[], next: T): T {
  let out = next;
  for (let i = interceptors.length - 1; i >= 0; i--) out = interceptors[i]!(out as never) as T;
  return out;
}

function merged(context: HandlerContext, req: UnaryRequest | StreamRequest): HandlerContext {
  // The interceptors may have replaced what the implementation sees.
  if (
    req.header === context.requestHeader &&
    req.signal === context.signal &&
    req.contextValues === context.values
  ) {
    return context;
  }
  return Object.assign(Object.create(context) as HandlerContext, {
    requestHeader: req.header,
    signal: req.signal,
    values: req.contextValues,
  });
}

function copyOut<O extends DescMessage>(schema: O, value: unknown): MessageShape<O> {
  return isMessage(value, schema)
    ? clone(schema, value)
    : create(schema, value as MessageInitShape<O>);
}

/**
 * Copies every message of `source`. With the `context` of a call, the
 * caller's cancellation and the deadline end the stream at once, as they end
 * a network call, even while the provider waits for something else: every
 * step is raced against the call's signal, and the provider's iterator is
 * then closed (its `finally` runs once its pending step settles).
 */
async function* copyEach<M extends DescMessage>(
  schema: M,
  source: AsyncIterable<unknown>,
  context: CallContext | undefined,
): AsyncGenerator<MessageShape<M>> {
  if (context === undefined || context.signal === NEVER_ABORTED) {
    try {
      for await (const value of source) yield copyOut(schema, value);
    } finally {
      context?.release();
    }
    return;
  }
  const signal = context.signal;
  const it = source[Symbol.asyncIterator]();
  let pending = false;
  let done = false;
  try {
    for (;;) {
      // Checked first: asking the provider for its next message would resume it.
      if (signal.aborted) throw ConnectError.from(signal.reason);
      pending = true;
      const step = await untilAborted(it.next(), signal);
      pending = false;
      if (step.done) {
        done = true;
        return;
      }
      yield copyOut(schema, step.value);
    }
  } finally {
    context.release();
    if (!done) {
      // A step still pending (the call was aborted) cannot be waited for.
      const closed = Promise.resolve()
        .then(() => it.return?.())
        .catch(() => {});
      if (!pending) await closed;
    }
  }
}

async function* once(value: Promise<unknown>): AsyncGenerator<unknown> {
  yield await value;
}

async function single<T>(messages: AsyncIterable<T>): Promise<T> {
  for await (const m of messages) return m;
  throw new ConnectError("protocol error: missing input message", Code.InvalidArgument);
}

/** Settles with `promise`, or rejects with the signal's reason once it aborts. */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(ConnectError.from(signal.reason));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(ConnectError.from(signal.reason));
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
}
