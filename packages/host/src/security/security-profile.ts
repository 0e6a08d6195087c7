/**
 * A named set of security defaults.
 *
 * - `development`: plaintext allowed (with a warning), rate limits on with
 *   generous budgets, registration and capability policies allow everything.
 * - `production`: TLS required unless `allowInsecure` is set, rate limits on,
 *   policies deny what they do not explicitly allow.
 */
export type SecurityProfile = "development" | "production";

/**
 * The defaults a {@link SecurityProfile} stands for.
 */
export interface ProfileDefaults {
  /** Plaintext listening is refused unless explicitly allowed. */
  readonly requireTls: boolean;
  /** Policies deny what they do not allow (otherwise they allow everything). */
  readonly denyByDefault: boolean;
  /** What a rate limiter does when its shared store is unreachable. */
  readonly rateLimitFailMode: "open" | "closed";
}

/**
 * The defaults of each {@link SecurityProfile}.
 */
export const PROFILE_DEFAULTS: Readonly<Record<SecurityProfile, ProfileDefaults>> = {
  development: { requireTls: false, denyByDefault: false, rateLimitFailMode: "open" },
  production: { requireTls: true, denyByDefault: true, rateLimitFailMode: "closed" },
};

/**
 * Tells whether a string names a {@link SecurityProfile}.
 */
export function isSecurityProfile(value: unknown): value is SecurityProfile {
  return value === "development" || value === "production";
}
