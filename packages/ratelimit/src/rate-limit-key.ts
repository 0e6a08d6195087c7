import type { ContextValues } from "@connectrpc/connect";
import { getAuthContext } from "@cpg/auth";
import { getClientAddress, leftmostForwardedFor } from "./client-address.js";
import { ipKeyPart } from "./ip-prefix.js";
import { RateLimitError } from "./rate-limit-error.js";

/**
 * Options of {@link defaultRateLimitKey}.
 */
export interface RateLimitKeyOptions {
  /**
   * Key unauthenticated callers by the left-most `X-Forwarded-For` entry
   * instead of the connection's address. Turn on only when every request
   * passes through a proxy you control that sets this header; otherwise any
   * caller picks its own key. Default: `false` (headers are never used).
   */
  trustProxy?: boolean;
  /**
   * How many leading bits of an IPv6 address identify one caller. Default:
   * `64` (one customer subnet); `128` keys every address on its own.
   */
  ipv6PrefixLength?: number;
}

/**
 * What {@link defaultRateLimitKey} reads from a call: the interceptor's
 * request, or anything with context values and headers.
 */
export interface RateLimitKeySource {
  readonly contextValues: ContextValues;
  readonly header: Headers;
}

/**
 * Validates {@link RateLimitKeyOptions} and resolves defaults.
 *
 * @private
 */
export function resolveKeyOptions(
  where: string,
  options: RateLimitKeyOptions,
): Required<RateLimitKeyOptions> {
  const ipv6PrefixLength = options.ipv6PrefixLength ?? 64;
  if (!Number.isInteger(ipv6PrefixLength) || ipv6PrefixLength < 1 || ipv6PrefixLength > 128) {
    throw new RateLimitError(
      "invalid_option",
      `${where}: ipv6PrefixLength must be an integer from 1 to 128, got ${String(ipv6PrefixLength)}`,
    );
  }
  return { trustProxy: options.trustProxy === true, ipv6PrefixLength };
}

/**
 * Returns the key a caller is limited by:
 *
 * 1. `"id:<identity>"` when an authenticator of `@cpg/auth` accepted the call
 *    (so run the auth interceptor before the rate-limit interceptor);
 * 2. else `"ip:<address>"`, the connection's remote address without port as
 *    stored by `clientAddressContextValues` (IPv6 reduced to its /64), or the
 *    left-most `X-Forwarded-For` entry when `trustProxy` is on;
 * 3. else `"ip:unknown"`, one bucket shared by all callers of unknown origin.
 *
 * Headers such as `X-Plugin-Runtime-ID` are never part of the key: callers
 * choose them freely.
 */
export function defaultRateLimitKey(
  source: RateLimitKeySource,
  options: RateLimitKeyOptions = {},
): string {
  const identity = getAuthContext(source.contextValues)?.identity;
  if (identity !== undefined && identity !== "") return `id:${identity}`;
  let address: string | undefined;
  if (options.trustProxy === true) {
    address = leftmostForwardedFor(source.header.get("x-forwarded-for"));
  }
  address ??= getClientAddress(source.contextValues);
  if (address === undefined) return "ip:unknown";
  return `ip:${ipKeyPart(address, options.ipv6PrefixLength ?? 64)}`;
}
