import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { onStreamEnd } from "./stream-end.js";

/**
 * Counts calls in flight and refuses new ones once draining starts.
 * @private
 */
export interface Drain {
  /** Interceptor that counts calls and refuses them while draining. */
  readonly interceptor: Interceptor;
  /** Calls in flight (streams count until their last response message). */
  readonly inFlight: number;
  /**
   * Counts one piece of work that does not pass the interceptor (e.g. a
   * proxied call); returns the function that ends it, or `undefined` once
   * draining has started (refuse the work).
   */
  enter(): (() => void) | undefined;
  /** Starts refusing new calls with `unavailable`. */
  start(): void;
  /** Resolves when no call is in flight, or after `timeoutMs`; true when drained. */
  wait(timeoutMs: number): Promise<boolean>;
}

/**
 * Options of {@link createDrain}.
 * @private
 */
export interface DrainOptions {
  /**
   * Message of the `unavailable` error that refuses calls while draining.
   * Default: `"host is shutting down"`.
   */
  readonly message?: string;
}

/**
 * Creates a {@link Drain}.
 * @private
 */
export function createDrain(options: DrainOptions = {}): Drain {
  const message = options.message ?? "host is shutting down";
  let inFlight = 0;
  let draining = false;
  const idle = new Set<() => void>();
  const done = () => {
    inFlight--;
    if (inFlight === 0) for (const resolve of idle) resolve();
  };
  const interceptor: Interceptor = (next) => async (req) => {
    if (draining) {
      throw new ConnectError(message, Code.Unavailable);
    }
    inFlight++;
    let res: Awaited<ReturnType<typeof next>>;
    try {
      res = await next(req);
    } catch (error) {
      done();
      throw error;
    }
    if (!res.stream) {
      done();
      return res;
    }
    const source = res.message;
    let finished = false;
    const finish = () => {
      if (!finished) {
        finished = true;
        req.signal.removeEventListener("abort", finish);
        done();
      }
    };
    // A cancelled stream may never be iterated to its end: count it out anyway
    // (at once when it was cancelled before its response arrived: an abort
    // listener added now would never fire).
    if (req.signal.aborted) finish();
    else req.signal.addEventListener("abort", finish);
    return { ...res, message: onStreamEnd(source, finish) };
  };
  const drain: Omit<Drain, "inFlight"> = {
    interceptor,
    enter() {
      if (draining) return undefined;
      inFlight++;
      let ended = false;
      return () => {
        if (ended) return;
        ended = true;
        done();
      };
    },
    start() {
      draining = true;
    },
    wait(timeoutMs) {
      if (inFlight === 0) return Promise.resolve(true);
      return new Promise<boolean>((resolve) => {
        const onIdle = () => {
          clearTimeout(timer);
          idle.delete(onIdle);
          resolve(true);
        };
        const timer = setTimeout(() => {
          idle.delete(onIdle);
          resolve(false);
        }, timeoutMs);
        idle.add(onIdle);
      });
    },
  };
  // Not a getter in the literal: V8 keeps object literals with accessors in
  // slow dictionary mode, and every method call would pay for that.
  return Object.defineProperty(drain, "inFlight", {
    get: () => inFlight,
    enumerable: true,
  }) as Drain;
}
