import { RateLimitError, type RateLimitStore } from "@cpg/ratelimit";
import { createRedisRateLimitStore } from "@cpg/ratelimit/redis";
import type { StateReplication } from "./state-replication.js";

/**
 * The host's rate-limit buckets in the replicas' Redis (under
 * `<keyPrefix>:ratelimit:`), so every replica takes from one budget per
 * caller. Fails closed: a decision Redis cannot make refuses the call with
 * `unavailable`.
 */
export function createSharedRateLimitStore(
  replication: StateReplication,
  commandTimeoutMs: number,
): RateLimitStore {
  let store: RateLimitStore | undefined;
  return {
    consume(key, limit, cost) {
      const redis = replication.redis;
      if (redis === undefined) {
        throw new RateLimitError(
          "store_unavailable",
          "the host has not connected to its shared store (Redis) yet",
        );
      }
      store ??= createRedisRateLimitStore({
        client: redis.client,
        keyPrefix: redis.keys.rateLimitPrefix,
        failMode: "closed",
        commandTimeoutMs,
      });
      return store.consume(key, limit, cost);
    },
    close() {},
  };
}
