/**
 * Header carrying the caller's runtime identity. HTTP header names are
 * case-insensitive; Go peers send `X-Plugin-Runtime-Id`. Node lower-cases
 * incoming header names, so compare against this lower-case form.
 */
export const RUNTIME_ID_HEADER = "x-plugin-runtime-id";

/**
 * Standard `Authorization` header; cpg uses `Bearer <token>` for runtime
 * tokens and capability grant tokens.
 */
export const AUTHORIZATION_HEADER = "authorization";

/**
 * Header carrying an API key.
 */
export const API_KEY_HEADER = "x-api-key";

/**
 * Header the host's router sets on every forwarded call to tell the provider
 * who is calling (the caller's runtime id). Inbound values are always stripped,
 * so providers can trust it when they trust the host.
 */
export const CALLER_ID_HEADER = "x-plugin-caller-id";

/**
 * Prefix of a bearer credential in the `Authorization` header (one space).
 */
export const BEARER_PREFIX = "Bearer ";

/**
 * Formats a token as an `Authorization` header value: `Bearer <token>`.
 */
export function bearer(token: string): string {
  return BEARER_PREFIX + token;
}

/**
 * Extracts the token from an `Authorization` header value of the form
 * `Bearer <token>`. Returns `undefined` for a missing header, another scheme,
 * or an empty token. The scheme is matched case-insensitively (RFC 9110),
 * followed by exactly one space.
 */
export function parseBearer(value: string | null | undefined): string | undefined {
  if (value === null || value === undefined || value.length <= BEARER_PREFIX.length) {
    return undefined;
  }
  if (value.slice(0, BEARER_PREFIX.length).toLowerCase() !== BEARER_PREFIX.toLowerCase()) {
    return undefined;
  }
  const token = value.slice(BEARER_PREFIX.length);
  if (token.trim() !== token || token.length === 0) {
    return undefined;
  }
  return token;
}
