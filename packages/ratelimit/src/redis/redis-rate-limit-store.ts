import type { Cluster, Redis } from "ioredis";
import type { RateLimitDecision } from "../rate-limit-decision.js";
import { isRateLimitError, RateLimitError } from "../rate-limit-error.js";
import type { RateLimitStore, TokenBucketLimit } from "../rate-limit-store.js";
import { invalidCost } from "../validate.js";
import { TOKEN_BUCKET_SCRIPT, TOKEN_BUCKET_SCRIPT_SHA1 } from "./token-bucket-script.js";

/**
 * What a {@link RedisRateLimitStore} does when Redis fails or does not answer
 * in time: `"open"` allows the call, `"closed"` rejects it with a
 * `RateLimitError` (`store_unavailable` or `store_timeout`), which the
 * interceptor answers with `Code.Unavailable`.
 */
export type RedisFailMode = "open" | "closed";

/**
 * Options of {@link createRedisRateLimitStore}.
 */
export interface RedisRateLimitStoreOptions {
  /**
   * The ioredis client (a `Redis` or `Cluster`). The store does not own it:
   * `close()` leaves it connected.
   */
  client: Redis | Cluster;
  /** Prefix of every bucket key. Default: `"cpg:ratelimit:"`. */
  keyPrefix?: string;
  /**
   * Behaviour when Redis errors or is unreachable. Default: `"closed"`
   * (reject) — the safe choice for a security control. Hosts typically pick
   * by profile, e.g. `"closed"` in production and `"open"` in development.
   */
  failMode?: RedisFailMode;
  /**
   * Longest wait for one decision, in milliseconds, after which `failMode`
   * applies (ioredis otherwise queues commands while reconnecting).
   * Default: `250`.
   */
  commandTimeoutMs?: number;
  /**
   * Called with every Redis failure (also in fail-open mode, where it is the
   * only trace), e.g. to log or count it. Default: none.
   */
  onError?: (error: RateLimitError) => void;
}

/**
 * A {@link RateLimitStore} in Redis that several processes share: each
 * decision is one atomic Lua script (`EVALSHA`, falling back to `EVAL` when
 * the server does not have it cached) timed by the Redis server's clock.
 */
export interface RedisRateLimitStore extends RateLimitStore {
  consume(key: string, limit: TokenBucketLimit, cost: number): Promise<RateLimitDecision>;
  /** Does nothing: the client belongs to the caller. */
  close(): void;
}

const allowedOnFailure: RateLimitDecision = Object.freeze({
  allowed: true,
  remaining: 0,
  retryAfterMs: 0,
});

function isNoScript(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith("NOSCRIPT");
}

function toDecision(reply: unknown): RateLimitDecision {
  if (
    Array.isArray(reply) &&
    reply.length === 3 &&
    reply.every((v) => typeof v === "number" && Number.isFinite(v))
  ) {
    const [allowed, remaining, retryAfterMs] = reply as [number, number, number];
    return { allowed: allowed === 1, remaining, retryAfterMs };
  }
  throw new Error(`unexpected reply from the token bucket script: ${JSON.stringify(reply)}`);
}

/**
 * Creates a Redis-backed {@link RateLimitStore}, so that several host replicas
 * enforce one budget per caller.
 *
 * @example
 * ```ts
 * import { Redis } from "ioredis";
 * import { createRedisRateLimitStore } from "@cpg/ratelimit/redis";
 *
 * const store = createRedisRateLimitStore({ client: new Redis(), failMode: "closed" });
 * const rateLimit = createRateLimitInterceptor({ store });
 * ```
 */
export function createRedisRateLimitStore(
  options: RedisRateLimitStoreOptions,
): RedisRateLimitStore {
  const where = "createRedisRateLimitStore";
  const client = options.client;
  if (client === null || typeof client !== "object" || typeof client.evalsha !== "function") {
    throw new RateLimitError(
      "invalid_option",
      `${where}: client must be an ioredis Redis or Cluster instance`,
    );
  }
  const keyPrefix = options.keyPrefix ?? "cpg:ratelimit:";
  if (typeof keyPrefix !== "string") {
    throw new RateLimitError("invalid_option", `${where}: keyPrefix must be a string`);
  }
  const failMode = options.failMode ?? "closed";
  if (failMode !== "open" && failMode !== "closed") {
    throw new RateLimitError(
      "invalid_option",
      `${where}: failMode must be "open" or "closed", got ${JSON.stringify(failMode)}`,
    );
  }
  const commandTimeoutMs = options.commandTimeoutMs ?? 250;
  if (!Number.isFinite(commandTimeoutMs) || commandTimeoutMs <= 0) {
    throw new RateLimitError(
      "invalid_option",
      `${where}: commandTimeoutMs must be a finite number of milliseconds > 0, got ${String(commandTimeoutMs)}`,
    );
  }
  const onError = options.onError;

  async function run(key: string, args: [number, number, number]): Promise<unknown> {
    try {
      return await client.evalsha(TOKEN_BUCKET_SCRIPT_SHA1, 1, key, ...args);
    } catch (error) {
      if (!isNoScript(error)) throw error;
      return client.eval(TOKEN_BUCKET_SCRIPT, 1, key, ...args);
    }
  }

  function bounded(key: string, args: [number, number, number]): Promise<RateLimitDecision> {
    return new Promise<RateLimitDecision>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(
          new RateLimitError(
            "store_timeout",
            `Redis did not answer a rate limit decision within ${commandTimeoutMs} ms`,
          ),
        );
      }, commandTimeoutMs);
      run(key, args).then(
        (reply) => {
          clearTimeout(timer);
          try {
            resolve(toDecision(reply));
          } catch (error) {
            reject(error);
          }
        },
        (error: unknown) => {
          clearTimeout(timer);
          reject(error);
        },
      );
    });
  }

  return {
    async consume(key: string, limit: TokenBucketLimit, cost: number): Promise<RateLimitDecision> {
      if (!(cost > 0 && cost <= limit.burst)) throw invalidCost(cost, limit.burst);
      try {
        return await bounded(keyPrefix + key, [limit.rate, limit.burst, cost]);
      } catch (cause) {
        const error = isRateLimitError(cause)
          ? cause
          : new RateLimitError(
              "store_unavailable",
              `Redis rate limit store failed: ${cause instanceof Error ? cause.message : String(cause)}`,
              { cause },
            );
        onError?.(error);
        if (failMode === "open") return allowedOnFailure;
        throw error;
      }
    },
    close(): void {},
  };
}
