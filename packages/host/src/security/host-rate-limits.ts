import type { Interceptor } from "@connectrpc/connect";
import { createRateLimitInterceptor } from "@cpg/ratelimit";
import type { HostRateLimits } from "../host-options.js";

/**
 * The host's rate-limit interceptor: handshakes get their own, stricter
 * budget; every other call shares the API budget; streams are capped per
 * caller. Callers are keyed by runtime identity when authenticated, else by
 * client IP (never by a header the caller controls).
 */
export function createHostRateLimitInterceptor(limits: Required<HostRateLimits>): Interceptor {
  return createRateLimitInterceptor({
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
