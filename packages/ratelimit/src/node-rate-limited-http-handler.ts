import type { ServerResponse } from "node:http";
import type { Http2ServerResponse } from "node:http2";
import { leftmostForwardedFor, normalizeClientAddress } from "./client-address.js";
import { ipKeyPart } from "./ip-prefix.js";
import { isPromiseLike } from "./is-promise-like.js";
import { createMemoryRateLimitStore } from "./memory-rate-limit-store.js";
import type { NodeServerRequest } from "./node-client-address.js";
import type { RateLimitDecision } from "./rate-limit-decision.js";
import { RateLimitError } from "./rate-limit-error.js";
import { type RateLimitKeyOptions, resolveKeyOptions } from "./rate-limit-key.js";
import type { RateLimitStore } from "./rate-limit-store.js";
import { validateLimit } from "./validate.js";
import { retryAfterSeconds } from "./wire-errors.js";

/**
 * A Node.js server response from `node:http`, `node:https` or `node:http2`
 * (compatibility API).
 */
export type NodeServerResponse = ServerResponse | Http2ServerResponse;

/**
 * Options of {@link createRateLimitedHttpHandler}.
 */
export interface RateLimitedHttpHandlerOptions extends RateLimitKeyOptions {
  /** Requests per second per caller; required, `> 0`. */
  rate: number;
  /** Bucket capacity per caller; required, `>= 1`. */
  burst: number;
  /** Where buckets live. Default: a new in-memory store (sweep timer `unref`'d). */
  store?: RateLimitStore;
  /**
   * Name of this handler's buckets, part of every store key; keep it stable
   * across replicas that share a store. Must not contain `|`. Default: `"http"`.
   */
  name?: string;
  /**
   * Returns the caller key of a request, or `undefined` to exempt it.
   * Default: `"ip:<remote address>"` without port (IPv6 reduced to
   * `ipv6PrefixLength` bits), or the left-most `X-Forwarded-For` entry when
   * `trustProxy` is on.
   */
  keyFor?: (request: NodeServerRequest) => string | undefined;
}

interface WritableResponse {
  headersSent: boolean;
  writeHead(status: number, headers: Record<string, string>): unknown;
  end(body: string): unknown;
}

function reject(
  response: NodeServerResponse,
  status: number,
  headers: Record<string, string>,
  body: string,
): void {
  const res = response as unknown as WritableResponse;
  if (res.headersSent) return;
  res.writeHead(status, { "content-type": "text/plain; charset=utf-8", ...headers });
  res.end(body);
}

/**
 * Wraps a plain Node.js request handler (for routes that are not Connect
 * procedures, such as `/healthz` or a reverse proxy) with a per-caller token
 * bucket. Rejected requests get `429 Too Many Requests` with a `Retry-After`
 * header in seconds; when the store fails closed they get `503`.
 *
 * @example
 * ```ts
 * const handler = createRateLimitedHttpHandler((req, res) => res.end("ok"), { rate: 10, burst: 20 });
 * http.createServer(handler);
 * ```
 */
export function createRateLimitedHttpHandler<
  Req extends NodeServerRequest,
  Res extends NodeServerResponse,
>(
  handler: (request: Req, response: Res) => unknown,
  options: RateLimitedHttpHandlerOptions,
): (request: Req, response: Res) => void {
  const where = "createRateLimitedHttpHandler";
  if (typeof handler !== "function") {
    throw new RateLimitError("invalid_option", `${where}: handler must be a function`);
  }
  const limit = validateLimit(where, options);
  const name = options.name ?? "http";
  if (name === "" || name.includes("|")) {
    throw new RateLimitError(
      "invalid_option",
      `${where}: name must be non-empty and must not contain "|", got "${name}"`,
    );
  }
  const prefix = `${name}|`;
  const keyOptions = resolveKeyOptions(where, options);
  const keyFor = options.keyFor ?? ((request: NodeServerRequest) => ipKeyOf(request, keyOptions));
  const store = options.store ?? createMemoryRateLimitStore();

  const decided = (request: Req, response: Res, decision: RateLimitDecision): void => {
    if (decision.allowed) {
      handler(request, response);
      return;
    }
    reject(
      response,
      429,
      { "retry-after": retryAfterSeconds(decision.retryAfterMs) },
      `rate limit exceeded; retry after ${decision.retryAfterMs} ms\n`,
    );
  };
  const failed = (response: Res): void => {
    reject(response, 503, {}, "rate limit store unavailable\n");
  };

  return (request, response) => {
    const caller = keyFor(request);
    if (caller === undefined) {
      handler(request, response);
      return;
    }
    let answer: RateLimitDecision | PromiseLike<RateLimitDecision>;
    try {
      answer = store.consume(prefix + caller, limit, 1);
    } catch {
      failed(response);
      return;
    }
    if (isPromiseLike(answer)) {
      answer.then(
        (decision) => decided(request, response, decision),
        () => failed(response),
      );
    } else {
      decided(request, response, answer);
    }
  };
}

function ipKeyOf(request: NodeServerRequest, options: Required<RateLimitKeyOptions>): string {
  let address: string | undefined;
  if (options.trustProxy) {
    const header = request.headers["x-forwarded-for"];
    address = leftmostForwardedFor(Array.isArray(header) ? header[0] : header);
  }
  const remote = request.socket?.remoteAddress;
  address ??= remote === undefined ? undefined : normalizeClientAddress(remote);
  return address === undefined || address === ""
    ? "ip:unknown"
    : `ip:${ipKeyPart(address, options.ipv6PrefixLength)}`;
}
