import {
  createMemoryRateLimitStore,
  type RateLimitDecision,
  RateLimitError,
  type RateLimitStore,
  type TokenBucketLimit,
} from "@cpg/ratelimit";
import { createRedisRateLimitStore } from "@cpg/ratelimit/redis";
import type { StateReplication } from "./state-replication.js";

/**
 * The host's rate-limit buckets in the replicas' Redis (under
 * `<keyPrefix>:ratelimit:`), so every replica takes from one budget per
 * caller. When Redis cannot decide (unreachable, too slow), the replica
 * decides alone from buckets in its own memory until Redis answers again:
 * callers keep a limit (at most one budget per replica) and the host keeps
 * answering reads such as discovery during an outage.
 */
export function createSharedRateLimitStore(
  replication: StateReplication,
  commandTimeoutMs: number,
): RateLimitStore {
  let shared: RateLimitStore | undefined;
  const local = createMemoryRateLimitStore();
  const alone = (key: string, limit: TokenBucketLimit, cost: number) =>
    local.consume(key, limit, cost);
  return {
    consume(key, limit, cost): RateLimitDecision | Promise<RateLimitDecision> {
      const redis = replication.redis;
      if (redis === undefined || !replication.writable()) return alone(key, limit, cost);
      shared ??= createRedisRateLimitStore({
        client: redis.client,
        keyPrefix: redis.keys.rateLimitPrefix,
        failMode: "closed",
        commandTimeoutMs,
      });
      return Promise.resolve(shared.consume(key, limit, cost)).catch((error: unknown) => {
        if (error instanceof RateLimitError && error.code.startsWith("store_")) {
          return alone(key, limit, cost);
        }
        throw error;
      });
    },
    close() {
      return local.close();
    },
  };
}
