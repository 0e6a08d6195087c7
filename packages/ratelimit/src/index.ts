/**
 * @cpg/ratelimit: token-bucket rate limiting for Connect unary calls and
 * streams, keyed by authenticated identity or client IP, in memory or shared
 * through Redis (`@cpg/ratelimit/redis`).
 *
 * @example
 * ```ts
 * import { clientAddressContextValues, createRateLimitInterceptor } from "@cpg/ratelimit";
 *
 * const rateLimit = createRateLimitInterceptor({
 *   rules: [{ match: "/connectplugin.v1.HandshakeService/Handshake", rate: 1, burst: 5 }],
 * });
 * connectNodeAdapter({ routes, interceptors: [auth, rateLimit], contextValues: clientAddressContextValues });
 * ```
 *
 * @packageDocumentation
 */

export {
  clientAddressKey,
  getClientAddress,
  leftmostForwardedFor,
  normalizeClientAddress,
  setClientAddress,
} from "./client-address.js";
export type { Clock } from "./clock.js";
export { monotonicClock } from "./clock.js";
export type { ManualClock } from "./manual-clock.js";
export { createManualClock } from "./manual-clock.js";
export type {
  MemoryRateLimitStore,
  MemoryRateLimitStoreOptions,
} from "./memory-rate-limit-store.js";
export { createMemoryRateLimitStore } from "./memory-rate-limit-store.js";
export type { NodeServerRequest } from "./node-client-address.js";
export { attachClientAddress, clientAddressContextValues } from "./node-client-address.js";
export type {
  NodeServerResponse,
  RateLimitedHttpHandlerOptions,
} from "./node-rate-limited-http-handler.js";
export { createRateLimitedHttpHandler } from "./node-rate-limited-http-handler.js";
export type { RateLimitDecision } from "./rate-limit-decision.js";
export type { RateLimitErrorCode } from "./rate-limit-error.js";
export { isRateLimitError, RateLimitError } from "./rate-limit-error.js";
export type { RateLimitInterceptorOptions } from "./rate-limit-interceptor.js";
export { createRateLimitInterceptor, DEFAULT_RATE_LIMIT } from "./rate-limit-interceptor.js";
export type { RateLimitKeyOptions, RateLimitKeySource } from "./rate-limit-key.js";
export { defaultRateLimitKey } from "./rate-limit-key.js";
export type {
  ProcedureMatcher,
  RateLimitLimits,
  RateLimitRule,
} from "./rate-limit-rule.js";
export type { RateLimitStore, TokenBucketLimit } from "./rate-limit-store.js";
export type { RateLimiter, RateLimiterOptions, SyncRateLimiter } from "./rate-limiter.js";
export { createRateLimiter } from "./rate-limiter.js";
