import type { DescMessage, MessageShape } from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  type Interceptor,
  type StreamRequest,
  type StreamResponse,
  type UnaryRequest,
} from "@connectrpc/connect";
import { PluginError } from "../plugin-error.js";
import { callTimeoutMs, setCallTimeoutMs } from "./call-deadline.js";
import { validateCodes, validateFunction, validateInteger } from "./validate.js";

/**
 * The codes {@link createRetryInterceptor} retries when `retryableCodes` is
 * not given: `Unavailable` (the server or the path to it is down for a
 * moment) and `ResourceExhausted` (the server sheds load or rate-limits the
 * caller, usually with a `retry-after` hint).
 *
 * Every other code is returned at once: the caller's own mistakes
 * (`InvalidArgument`, `NotFound`, `AlreadyExists`, `FailedPrecondition`,
 * `OutOfRange`, `Unimplemented`), refusals (`Unauthenticated`,
 * `PermissionDenied`), `Aborted` (a conflict to resolve by redoing the whole
 * read-modify-write, not by resending one call), and server faults that a
 * resend rarely fixes (`Internal`, `Unknown`, `DataLoss`). `Canceled` and
 * `DeadlineExceeded` end the call itself.
 */
export const DEFAULT_RETRYABLE_CODES: readonly Code[] = Object.freeze([
  Code.Unavailable,
  Code.ResourceExhausted,
]);

/**
 * Options of {@link createRetryInterceptor}.
 */
export interface RetryOptions {
  /**
   * How many times a call is sent at most, the first one included. `1`
   * never retries. Default: `3`.
   */
  maxAttempts?: number;
  /**
   * The backoff cap before the first retry, in milliseconds; it doubles for
   * each further retry. Default: `100`.
   */
  initialBackoffMs?: number;
  /**
   * The largest wait before a retry, in milliseconds. It also bounds server
   * `retry-after` hints: a call asked to wait longer fails at once with the
   * server's error. Default: `2000`.
   */
  maxBackoffMs?: number;
  /**
   * The error codes that are retried. Default: {@link DEFAULT_RETRYABLE_CODES}
   * (`Unavailable`, `ResourceExhausted`).
   */
  retryableCodes?: readonly Code[];
  /**
   * Returns a number in `[0, 1)` for the jitter. Default: `Math.random`.
   */
  random?: () => number;
  /**
   * Waits `ms` milliseconds, or less when `signal` aborts (it may resolve or
   * reject then). Default: a `setTimeout` that ends early on abort.
   */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /**
   * The clock that measures the time left before the call's deadline, in
   * milliseconds. Inject it together with `sleep`. Default: `Date.now`.
   */
  now?: () => number;
}

interface ResolvedRetryOptions {
  maxAttempts: number;
  initialBackoffMs: number;
  maxBackoffMs: number;
  retryableCodes: Set<Code>;
  random: () => number;
  sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  now: () => number;
}

const where = "createRetryInterceptor";

type Message = MessageShape<DescMessage>;

/**
 * Creates a Connect client interceptor that retries failed calls with
 * exponential backoff and full jitter.
 *
 * - Retry `n` (1 for the first retry) waits
 *   `random() * min(maxBackoffMs, initialBackoffMs * 2 ** (n - 1))` ms, or
 *   exactly the `retry-after` error metadata (seconds) when the server sent
 *   one. A hint longer than `maxBackoffMs` is not waited for: the error is
 *   returned at once.
 * - Only errors with a code in `retryableCodes` are retried, at most
 *   `maxAttempts - 1` times; when it gives up, the call fails with the last
 *   attempt's error.
 * - It never waits past the call's deadline: when the time left (from the
 *   `timeoutMs` the caller set) is not longer than the next wait, it gives
 *   up; when the call's `signal` aborts, it stops waiting and fails (the
 *   client then reports the abort reason, `Canceled` or `DeadlineExceeded`).
 *   A re-issued call carries the time left as its timeout header.
 * - Unary calls are re-issued whole. Server-streaming calls are re-issued
 *   only while no response message has been received; once one has, errors
 *   pass through. Client- and bidi-streaming calls are never retried: their
 *   request messages cannot be replayed.
 *
 * Retry only calls that are safe to repeat: an `Unavailable` error does not
 * prove that the server did not act. Place it before a circuit breaker so
 * that every attempt goes through the breaker.
 *
 * @example
 * ```ts
 * const transport = createHostTransport({
 *   baseUrl: "http://127.0.0.1:8080",
 *   interceptors: [createRetryInterceptor({ maxAttempts: 4 }), createCircuitBreakerInterceptor()],
 * });
 * ```
 */
export function createRetryInterceptor(options: RetryOptions = {}): Interceptor {
  const opts = resolveRetryOptions(options);
  return (next) => async (req) => {
    if (req.stream && req.method.methodKind !== "server_streaming") return next(req);
    const timeoutMs = callTimeoutMs(req.header);
    const deadline = timeoutMs === undefined ? undefined : opts.now() + timeoutMs;
    const plan = new RetryPlan(opts, req.signal, deadline);
    if (!req.stream) {
      for (;;) {
        try {
          return await next(plan.request(req));
        } catch (error) {
          await plan.backOff(error);
        }
      }
    }
    return retryServerStream(req, (attempt) => next(attempt) as Promise<StreamResponse>, plan);
  };
}

function resolveRetryOptions(options: RetryOptions): ResolvedRetryOptions {
  const initialBackoffMs = validateInteger(
    where,
    "initialBackoffMs",
    options.initialBackoffMs ?? 100,
    1,
  );
  const maxBackoffMs = validateInteger(where, "maxBackoffMs", options.maxBackoffMs ?? 2000, 1);
  if (maxBackoffMs < initialBackoffMs) {
    throw new PluginError(
      "invalid_config",
      `${where}: maxBackoffMs (${maxBackoffMs}) must be >= initialBackoffMs (${initialBackoffMs})`,
    );
  }
  return {
    maxAttempts: validateInteger(where, "maxAttempts", options.maxAttempts ?? 3, 1),
    initialBackoffMs,
    maxBackoffMs,
    retryableCodes: validateCodes(
      where,
      "retryableCodes",
      options.retryableCodes ?? DEFAULT_RETRYABLE_CODES,
    ),
    random: validateFunction(where, "random", options.random ?? Math.random),
    sleep: validateFunction(where, "sleep", options.sleep ?? sleepUnlessAborted),
    now: validateFunction(where, "now", options.now ?? Date.now),
  };
}

/** The state of one call's attempts: how many were sent and what comes next. */
class RetryPlan {
  private attempts = 0;

  constructor(
    private readonly opts: ResolvedRetryOptions,
    private readonly signal: AbortSignal,
    private readonly deadline: number | undefined,
  ) {}

  /** The request of the next attempt: a fresh header, with the time left. */
  request<R extends UnaryRequest | StreamRequest>(req: R, message?: R["message"]): R {
    this.attempts++;
    const header = new Headers(req.header);
    if (this.attempts > 1 && this.deadline !== undefined) {
      setCallTimeoutMs(header, this.deadline - this.opts.now());
    }
    return { ...req, header, message: message ?? req.message };
  }

  /**
   * Waits before the next attempt, or rethrows `error` when the call must
   * not be retried.
   */
  async backOff(error: unknown): Promise<void> {
    const delay = this.delayAfter(error);
    if (delay === undefined) throw error;
    await this.opts.sleep(delay, this.signal).catch(() => undefined);
    if (this.signal.aborted) throw error;
  }

  private delayAfter(error: unknown): number | undefined {
    const { opts, signal, deadline } = this;
    if (this.attempts >= opts.maxAttempts || signal.aborted) return undefined;
    const connectError = ConnectError.from(error);
    if (!opts.retryableCodes.has(connectError.code)) return undefined;
    let delay = retryAfterMs(connectError.metadata);
    if (delay === undefined) {
      const cap = Math.min(opts.maxBackoffMs, opts.initialBackoffMs * 2 ** (this.attempts - 1));
      delay = Math.floor(opts.random() * cap);
    } else if (delay > opts.maxBackoffMs) {
      return undefined;
    }
    if (deadline !== undefined && deadline - opts.now() <= delay) return undefined;
    return delay;
  }
}

/**
 * Calls a server-streaming method, re-issuing it while it fails before its
 * first response message.
 */
async function retryServerStream(
  req: StreamRequest,
  next: (req: StreamRequest) => Promise<StreamResponse>,
  plan: RetryPlan,
): Promise<StreamResponse> {
  // The request iterable can be read once; keep its single message to replay it.
  const input: Message[] = [];
  for await (const message of req.message) input.push(message);

  const open = async (): Promise<StreamResponse> => {
    for (;;) {
      try {
        return await next(plan.request(req, replay(input)));
      } catch (error) {
        await plan.backOff(error);
      }
    }
  };

  const first = await open();
  let current = first;
  let it = first.message[Symbol.asyncIterator]();
  let delivered = false;

  // After a retry, the response the caller holds shows the headers and
  // trailers of the attempt that delivers.
  const settle = (result: IteratorResult<Message>) => {
    if (result.done && current !== first) copyHeaders(current.trailer, first.trailer);
    return result;
  };

  const iterator: AsyncIterator<Message> = {
    async next() {
      if (delivered) return settle(await it.next());
      for (;;) {
        try {
          const result = await it.next();
          delivered = true;
          return settle(result);
        } catch (error) {
          await plan.backOff(error);
          it.return?.().catch(() => undefined);
          current = await open();
          copyHeaders(current.header, first.header);
          it = current.message[Symbol.asyncIterator]();
        }
      }
    },
    async return(value?: unknown) {
      await it.return?.(value);
      return { done: true, value };
    },
  };
  return { ...first, message: { [Symbol.asyncIterator]: () => iterator } };
}

async function* replay<T>(messages: readonly T[]): AsyncGenerator<T> {
  yield* messages;
}

function copyHeaders(from: Headers, to: Headers): void {
  if (from === to) return;
  for (const key of [...to.keys()]) to.delete(key);
  for (const [key, value] of from) to.append(key, value);
}

/**
 * Reads a `retry-after` hint in seconds (a non-negative decimal number) from
 * error metadata. Other forms (HTTP dates) are ignored.
 */
function retryAfterMs(metadata: Headers): number | undefined {
  const value = metadata.get("retry-after")?.trim();
  if (value === undefined || !/^\d+(\.\d+)?$/.test(value)) return undefined;
  return Math.ceil(Number(value) * 1000);
}

function sleepUnlessAborted(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) {
      resolve();
      return;
    }
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done);
  });
}
