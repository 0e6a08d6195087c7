import type { Interceptor } from "@connectrpc/connect";
import { createRateLimitInterceptor, type RateLimitStore } from "@cpg/ratelimit";
import type { HostRateLimits } from "../host-options.js";

/**
 * The host's rate-limit interceptor: handshakes get their own, stricter
 * budget; every other call shares the API budget; streams are capped per
 * caller. Callers are keyed by runtime identity when authenticated, else by
 * client IP (never by a header the caller controls). `store`: where the
 * buckets live (default: this process; host replicas share a Redis one).
 */
export function createHostRateLimitInterceptor(
  limits: Required<HostRateLimits>,
  store?: RateLimitStore,
): Interceptor {
  return createRateLimitInterceptor({
    ...(store ? { store } : {}),
    rules: [
      {
        match: "/connectplugin.v1.HandshakeService/Handshake",
        rate: limits.handshake.rate,
        burst: limits.handshake.burst,
        maxConcurrentStreams: limits.maxConcurrentStreams,
      },
    ],
    defaultRule: {
      rate: limits.api.rate,
      burst: limits.api.burst,
      maxConcurrentStreams: limits.maxConcurrentStreams,
    },
  });
}
