import type { DescMessage, MessageShape } from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  type Interceptor,
  type StreamRequest,
  type StreamResponse,
  type UnaryRequest,
} from "@connectrpc/connect";
import { validateCodes, validateFunction, validateInteger } from "./validate.js";

/**
 * The state of one circuit of a {@link CircuitBreakerInterceptor}:
 *
 * - `closed`: calls pass; consecutive failures are counted.
 * - `open`: calls fail at once with `Unavailable`.
 * - `half-open`: the open period is over; a few probe calls pass and decide
 *   whether the circuit closes or opens again.
 */
export type CircuitState = "closed" | "open" | "half-open";

/**
 * The codes {@link createCircuitBreakerInterceptor} counts as failures when
 * `failureCodes` is not given: `Unavailable`, `DeadlineExceeded`, `Internal`
 * and `Unknown`, the signs of a server that is down, overloaded or broken.
 *
 * Other errors show a server that answers and count as successes: the
 * caller's mistakes and refusals (`InvalidArgument`, `NotFound`,
 * `PermissionDenied`, ...) and `ResourceExhausted`, which is about this
 * caller's pace (leave it to the retry interceptor's `retry-after`
 * handling). `Canceled` counts as neither.
 */
export const DEFAULT_FAILURE_CODES: readonly Code[] = Object.freeze([
  Code.Unavailable,
  Code.DeadlineExceeded,
  Code.Internal,
  Code.Unknown,
]);

/**
 * Options of {@link createCircuitBreakerInterceptor}.
 */
export interface CircuitBreakerOptions {
  /**
   * How many consecutive failures open a closed circuit. Default: `5`.
   */
  failureThreshold?: number;
  /**
   * How long an open circuit refuses calls before it lets probes through,
   * in milliseconds. Default: `10_000`.
   */
  openMs?: number;
  /**
   * How many probe calls a half-open circuit lets through at the same time;
   * further calls fail at once until a probe has decided. Default: `1`.
   */
  halfOpenMaxCalls?: number;
  /**
   * The error codes that count as failures. Default:
   * {@link DEFAULT_FAILURE_CODES} (`Unavailable`, `DeadlineExceeded`,
   * `Internal`, `Unknown`).
   */
  failureCodes?: readonly Code[];
  /**
   * Names the circuit a call belongs to. Default: the service's type name
   * (`req.service.typeName`), one circuit per service.
   */
  key?: (req: UnaryRequest | StreamRequest) => string;
  /**
   * The clock, in milliseconds. Default: `Date.now`.
   */
  now?: () => number;
}

/**
 * A Connect client interceptor that is also a handle on its circuits.
 */
export interface CircuitBreakerInterceptor extends Interceptor {
  /** The current state of the circuit `key` (`closed` when never used). */
  state(key: string): CircuitState;
  /** Closes the circuit `key`, or every circuit when `key` is omitted. */
  reset(key?: string): void;
}

interface Circuit {
  state: "closed" | "open";
  /** Consecutive failures while closed. */
  failures: number;
  /** When an open circuit turns half-open. */
  openUntil: number;
  /** Probes in flight while half-open. */
  probes: number;
  /** Bumped on every transition; outcomes of calls admitted earlier are ignored. */
  generation: number;
}

/** A call let through: whether it probes a half-open circuit, and in which generation. */
interface Ticket {
  circuit: Circuit;
  probe: boolean;
  generation: number;
}

type Outcome = "success" | "failure" | "neutral";

const where = "createCircuitBreakerInterceptor";

/**
 * Creates a Connect client interceptor that stops calling a failing service
 * for a while (a circuit breaker), with one circuit per `key`.
 *
 * - A closed circuit opens after `failureThreshold` consecutive failures
 *   (errors with a code in `failureCodes`). Any other outcome resets the
 *   count; `Canceled` leaves it alone.
 * - An open circuit fails calls at once, without sending them, with
 *   `Code.Unavailable`, message `"circuit open for <key>; retry after <n> ms"`
 *   and a `retry-after` header (seconds, rounded up) in the error metadata.
 * - After `openMs` it is half-open: up to `halfOpenMaxCalls` probe calls
 *   pass at the same time (others fail at once with `Unavailable`). A probe
 *   that succeeds closes the circuit, one that fails opens it again for
 *   `openMs`.
 * - A unary call succeeds or fails with its response. A stream (any kind)
 *   succeeds when it delivers its first response message or completes, and
 *   fails when it fails before that; later errors do not count.
 *
 * The returned interceptor also reports each circuit's {@link CircuitState}
 * and can reset circuits. Place it after a retry interceptor so that every
 * attempt is counted and open circuits end the retries quickly.
 *
 * @example
 * ```ts
 * const breaker = createCircuitBreakerInterceptor({ failureThreshold: 3, openMs: 5_000 });
 * const transport = createHostTransport({ baseUrl: "http://127.0.0.1:8080", interceptors: [breaker] });
 * breaker.state("kv.v1.KVService"); // "closed"
 * ```
 */
export function createCircuitBreakerInterceptor(
  options: CircuitBreakerOptions = {},
): CircuitBreakerInterceptor {
  const failureThreshold = validateInteger(
    where,
    "failureThreshold",
    options.failureThreshold ?? 5,
    1,
  );
  const openMs = validateInteger(where, "openMs", options.openMs ?? 10_000, 1);
  const halfOpenMaxCalls = validateInteger(
    where,
    "halfOpenMaxCalls",
    options.halfOpenMaxCalls ?? 1,
    1,
  );
  const failureCodes = validateCodes(
    where,
    "failureCodes",
    options.failureCodes ?? DEFAULT_FAILURE_CODES,
  );
  const keyOf = validateFunction(
    where,
    "key",
    options.key ?? ((req: UnaryRequest | StreamRequest) => req.service.typeName),
  );
  const now = validateFunction(where, "now", options.now ?? Date.now);

  // One small record per key ever seen, until reset.
  const circuits = new Map<string, Circuit>();

  function admit(key: string): Ticket {
    let circuit = circuits.get(key);
    if (circuit === undefined) {
      circuit = { state: "closed", failures: 0, openUntil: 0, probes: 0, generation: 0 };
      circuits.set(key, circuit);
    }
    if (circuit.state === "closed") {
      return { circuit, probe: false, generation: circuit.generation };
    }
    const waitMs = circuit.openUntil - now();
    if (waitMs > 0) {
      throw new ConnectError(
        `circuit open for ${key}; retry after ${Math.ceil(waitMs)} ms`,
        Code.Unavailable,
        { "retry-after": String(Math.ceil(waitMs / 1000)) },
      );
    }
    if (circuit.probes >= halfOpenMaxCalls) {
      throw new ConnectError(
        `circuit half-open for ${key}; waiting for ${circuit.probes} probe call(s)`,
        Code.Unavailable,
      );
    }
    circuit.probes++;
    return { circuit, probe: true, generation: circuit.generation };
  }

  function record(key: string, ticket: Ticket, outcome: Outcome): void {
    const { circuit, probe, generation } = ticket;
    if (circuit.generation !== generation || circuits.get(key) !== circuit) return;
    if (probe) circuit.probes--;
    if (outcome === "neutral") return;
    if (outcome === "success") {
      circuit.failures = 0;
      if (probe) transition(circuit, "closed");
      return;
    }
    if (!probe) {
      circuit.failures++;
      if (circuit.failures < failureThreshold) return;
    }
    transition(circuit, "open");
  }

  function transition(circuit: Circuit, state: Circuit["state"]): void {
    circuit.state = state;
    circuit.failures = 0;
    circuit.probes = 0;
    circuit.openUntil = state === "open" ? now() + openMs : 0;
    circuit.generation++;
  }

  function outcomeOf(error: unknown): Outcome {
    const code = ConnectError.from(error).code;
    if (failureCodes.has(code)) return "failure";
    return code === Code.Canceled ? "neutral" : "success";
  }

  const interceptor: Interceptor = (next) => async (req) => {
    const key = keyOf(req);
    const ticket = admit(key);
    let res: Awaited<ReturnType<typeof next>>;
    try {
      res = await next(req);
    } catch (error) {
      record(key, ticket, outcomeOf(error));
      throw error;
    }
    if (!res.stream) {
      record(key, ticket, "success");
      return res;
    }
    return watchFirstMessage(res, req.signal, (outcome) => record(key, ticket, outcome), outcomeOf);
  };

  return Object.assign(interceptor, {
    state(key: string): CircuitState {
      const circuit = circuits.get(key);
      if (circuit === undefined || circuit.state === "closed") return "closed";
      return circuit.openUntil > now() ? "open" : "half-open";
    },
    reset(key?: string): void {
      if (key === undefined) circuits.clear();
      else circuits.delete(key);
    },
  });
}

/**
 * Reports a stream's outcome once: on its first message or completion, on
 * an error before that, or when the call's signal aborts before that.
 */
function watchFirstMessage(
  res: StreamResponse,
  signal: AbortSignal,
  report: (outcome: Outcome) => void,
  outcomeOf: (error: unknown) => Outcome,
): StreamResponse {
  let settled = false;
  const settle = (outcome: Outcome) => {
    if (settled) return;
    settled = true;
    signal.removeEventListener("abort", onAbort);
    report(outcome);
  };
  const onAbort = () => settle(outcomeOf(signal.reason));
  if (signal.aborted) onAbort();
  else signal.addEventListener("abort", onAbort);

  type Message = MessageShape<DescMessage>;
  const it = res.message[Symbol.asyncIterator]();
  const iterator: AsyncIterator<Message> = {
    async next() {
      if (settled) return it.next();
      try {
        const result = await it.next();
        settle("success");
        return result;
      } catch (error) {
        settle(outcomeOf(error));
        throw error;
      }
    },
    async return(value?: unknown) {
      settle("neutral");
      await it.return?.(value);
      return { done: true, value };
    },
  };
  return { ...res, message: { [Symbol.asyncIterator]: () => iterator } };
}
