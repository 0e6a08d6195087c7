import type { Interceptor, StreamRequest, UnaryRequest } from "@connectrpc/connect";
import { isPromiseLike } from "./is-promise-like.js";
import { createMemoryRateLimitStore } from "./memory-rate-limit-store.js";
import type { RateLimitDecision } from "./rate-limit-decision.js";
import { RateLimitError } from "./rate-limit-error.js";
import {
  defaultRateLimitKey,
  type RateLimitKeyOptions,
  resolveKeyOptions,
} from "./rate-limit-key.js";
import {
  DEFAULT_RULE_NAME,
  type RateLimitLimits,
  type RateLimitRule,
  type ResolvedRule,
  resolveRule,
  resolveRules,
} from "./rate-limit-rule.js";
import type { RateLimitStore } from "./rate-limit-store.js";
import { createStreamSlots } from "./stream-slots.js";
import { rateLimitExceeded, storeUnavailable, tooManyStreams } from "./wire-errors.js";

/**
 * The limits of `defaultRule` when none is given: 50 calls per second per
 * caller with bursts of 100, and 32 concurrent streams.
 */
export const DEFAULT_RATE_LIMIT: Readonly<RateLimitLimits> = Object.freeze({
  rate: 50,
  burst: 100,
  maxConcurrentStreams: 32,
});

/**
 * Options of {@link createRateLimitInterceptor}.
 */
export interface RateLimitInterceptorOptions extends RateLimitKeyOptions {
  /**
   * Per-procedure rules, tried in order; the first match wins. Default: `[]`.
   */
  rules?: readonly RateLimitRule[];
  /**
   * Limits for procedures no rule matches, or `null` to leave them unlimited.
   * Default: {@link DEFAULT_RATE_LIMIT}.
   */
  defaultRule?: RateLimitLimits | null;
  /**
   * Where token buckets live. Pass a Redis store to share limits between
   * host replicas. Default: a new in-memory store (its sweep timer is
   * `unref`'d; pass your own store to close it).
   */
  store?: RateLimitStore;
  /**
   * Returns the caller key of a call, or `undefined` to exempt the call.
   * Default: {@link defaultRateLimitKey} with this interceptor's
   * `trustProxy` and `ipv6PrefixLength`: the authenticated identity, else the
   * client IP without port.
   */
  keyFor?: (request: UnaryRequest | StreamRequest) => string | undefined;
  /**
   * How long a caller rejected for too many concurrent streams is told to
   * wait, in milliseconds. Default: `1000`.
   */
  streamRetryAfterMs?: number;
}

/**
 * Creates a server-side Connect interceptor that rate-limits unary calls and
 * streams per caller and procedure.
 *
 * - Every call start takes one token from the caller's bucket of the matching
 *   rule; without tokens the call fails with `Code.ResourceExhausted`,
 *   message `"rate limit exceeded for <procedure>; retry after <n> ms"` and a
 *   `retry-after` header (seconds, rounded up) in the error metadata.
 * - Streams also hold one of `maxConcurrentStreams` slots until they end,
 *   fail or are cancelled.
 * - When the store cannot decide and fails closed, calls fail with
 *   `Code.Unavailable` (the store's error is the `cause`).
 *
 * Place it after the authentication interceptor so that callers are keyed by
 * identity, and wire `clientAddressContextValues` into the adapter so that
 * unauthenticated callers are keyed by IP.
 *
 * @example
 * ```ts
 * const rateLimit = createRateLimitInterceptor({
 *   rules: [{ match: "/connectplugin.v1.HandshakeService/Handshake", rate: 1, burst: 5 }],
 * });
 * connectNodeAdapter({ routes, interceptors: [auth, rateLimit], contextValues: clientAddressContextValues });
 * ```
 */
export function createRateLimitInterceptor(options: RateLimitInterceptorOptions = {}): Interceptor {
  const where = "createRateLimitInterceptor";
  const rules = resolveRules(where, options.rules ?? []);
  const defaultLimits =
    options.defaultRule === undefined ? DEFAULT_RATE_LIMIT : options.defaultRule;
  const fallback =
    defaultLimits === null
      ? undefined
      : resolveRule(`${where}: defaultRule`, DEFAULT_RULE_NAME, defaultLimits, () => true);
  const keyOptions = resolveKeyOptions(where, options);
  const keyFor =
    options.keyFor ??
    ((request: UnaryRequest | StreamRequest) => defaultRateLimitKey(request, keyOptions));
  if (typeof keyFor !== "function") {
    throw new RateLimitError("invalid_option", `${where}: keyFor must be a function`);
  }
  const streamRetryAfterMs = options.streamRetryAfterMs ?? 1000;
  if (!Number.isInteger(streamRetryAfterMs) || streamRetryAfterMs < 1) {
    throw new RateLimitError(
      "invalid_option",
      `${where}: streamRetryAfterMs must be an integer number of milliseconds >= 1, got ${String(streamRetryAfterMs)}`,
    );
  }
  const store = options.store ?? createMemoryRateLimitStore();
  const slots = createStreamSlots();
  const ruleCache = new Map<string, ResolvedRule | null>();

  function ruleFor(procedure: string): ResolvedRule | undefined {
    let rule = ruleCache.get(procedure);
    if (rule === undefined) {
      rule = rules.find((r) => r.matches(procedure)) ?? fallback ?? null;
      ruleCache.set(procedure, rule);
    }
    return rule ?? undefined;
  }

  /**
   * Takes a token or throws the wire error. Returns a promise only when the
   * store answers with one, so in-memory decisions allocate none.
   */
  function admit(procedure: string, rule: ResolvedRule, key: string): void | Promise<void> {
    let answer: RateLimitDecision | PromiseLike<RateLimitDecision>;
    try {
      answer = store.consume(key, rule.limit, 1);
    } catch (error) {
      throw storeUnavailable(procedure, error);
    }
    if (!isPromiseLike(answer)) {
      if (!answer.allowed) throw rateLimitExceeded(procedure, answer.retryAfterMs);
      return;
    }
    return Promise.resolve(answer).then(
      (decision) => {
        if (!decision.allowed) throw rateLimitExceeded(procedure, decision.retryAfterMs);
      },
      (error: unknown) => {
        throw storeUnavailable(procedure, error);
      },
    );
  }

  return (next) => async (request) => {
    const procedure = `/${request.service.typeName}/${request.method.name}`;
    const rule = ruleFor(procedure);
    if (rule === undefined) return next(request);
    const caller = keyFor(request);
    if (caller === undefined) return next(request);
    const key = rule.prefix + caller;
    if (!request.stream) {
      const pending = admit(procedure, rule, key);
      if (pending !== undefined) await pending;
      return next(request);
    }
    if (!slots.acquire(key, rule.maxConcurrentStreams)) {
      throw tooManyStreams(procedure, rule.maxConcurrentStreams, streamRetryAfterMs);
    }
    let held = true;
    const signal = request.signal;
    const release = (): void => {
      if (!held) return;
      held = false;
      signal.removeEventListener("abort", release);
      slots.release(key);
    };
    let response: Awaited<ReturnType<typeof next>>;
    try {
      const pending = admit(procedure, rule, key);
      if (pending !== undefined) await pending;
      response = await next(request);
    } catch (error) {
      release();
      throw error;
    }
    if (!response.stream) {
      // Not expected for a streaming request; nothing to hold open.
      release();
      return response;
    }
    // Cancellation aborts the call's signal even while the handler is
    // suspended, so the slot is freed without waiting for the generator.
    if (signal.aborted) release();
    else signal.addEventListener("abort", release, { once: true });
    return { ...response, message: releasing(response.message, release) };
  };
}

/**
 * Shared with `@cpg/plugin-sdk`'s stream wrapper: outer interceptors that
 * watch for the end of the stream add their callbacks here instead of
 * wrapping it again.
 */
const STREAM_END_HOOKS = Symbol.for("@cpg/stream-end-hooks");

type EndHook = (end: { readonly failed: boolean; readonly error: unknown }) => void;

/**
 * The stream's messages, calling `release` (then any hooks added through
 * `STREAM_END_HOOKS`) once they end: done, failed or stopped early. No async
 * generator: `next()` hands back the source's own promise, so holding a slot
 * adds no hop per message.
 */
function releasing<T>(messages: AsyncIterable<T>, release: () => void): AsyncIterable<T> {
  // Already watched by a wrapper of this kind (or the stream reports its own
  // end): add to its hooks.
  const add = (messages as { [STREAM_END_HOOKS]?: unknown })[STREAM_END_HOOKS];
  if (typeof add === "function") {
    (add as (hook: EndHook) => void).call(messages, () => release());
    return messages;
  }
  const hooks: EndHook[] = [];
  let ended = false;
  const end = (failed: boolean, error: unknown) => {
    if (ended) return;
    ended = true;
    release();
    for (const hook of hooks) hook({ failed, error });
  };
  const settled = <R extends IteratorResult<T>>(result: R) => {
    if (result.done) end(false, undefined);
  };
  const failed = (error: unknown) => end(true, error);
  return {
    [STREAM_END_HOOKS]: (hook: EndHook) => {
      hooks.push(hook);
    },
    [Symbol.asyncIterator](): AsyncIterator<T> {
      const iterator = messages[Symbol.asyncIterator]();
      return {
        next() {
          const next = iterator.next();
          next.then(settled, failed);
          return next;
        },
        return(value?: unknown) {
          const done = iterator.return
            ? iterator.return(value as T)
            : Promise.resolve({ done: true as const, value: value as T });
          return done.then(
            (result) => {
              end(false, undefined);
              return result;
            },
            (error: unknown) => {
              end(true, error);
              throw error;
            },
          );
        },
        throw(error?: unknown) {
          const thrown = iterator.throw ? iterator.throw(error) : Promise.reject(error);
          thrown.then(settled, failed);
          return thrown;
        },
      };
    },
  } as AsyncIterable<T>;
}
