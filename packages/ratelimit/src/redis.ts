/**
 * `@cpg/ratelimit/redis`: a Redis-backed rate limit store (requires the
 * optional peer dependency `ioredis`) that lets several host replicas share
 * one budget per caller.
 *
 * @example
 * ```ts
 * import { Redis } from "ioredis";
 * import { createRateLimitInterceptor } from "@cpg/ratelimit";
 * import { createRedisRateLimitStore } from "@cpg/ratelimit/redis";
 *
 * const store = createRedisRateLimitStore({ client: new Redis(process.env.REDIS_URL!) });
 * const rateLimit = createRateLimitInterceptor({ store });
 * ```
 *
 * @packageDocumentation
 */

export type {
  RedisFailMode,
  RedisRateLimitStore,
  RedisRateLimitStoreOptions,
} from "./redis/redis-rate-limit-store.js";
export { createRedisRateLimitStore } from "./redis/redis-rate-limit-store.js";
