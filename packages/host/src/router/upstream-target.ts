import type { Registration } from "../registry/registration.js";

/**
 * Where a provider's calls go, parsed once from its registration's base URL.
 */
export interface UpstreamTarget {
  /** `scheme://host:port`, the key of its HTTP/2 session. */
  readonly origin: string;
  /** `http` or `https` (the `:scheme` pseudo-header). */
  readonly scheme: string;
  /** `host:port` (the `:authority` pseudo-header). */
  readonly authority: string;
  readonly hostname: string;
  readonly port: string;
  readonly https: boolean;
  /** Path of the base URL without its trailing slash, prefixed to every forwarded path. */
  readonly pathPrefix: string;
}

const targets = new WeakMap<Registration, UpstreamTarget>();

/**
 * The {@link UpstreamTarget} of a registration with a network base URL,
 * parsed on first use and kept as long as the registration (registrations
 * are immutable: a new registration is a new object).
 */
export function upstreamTarget(registration: Registration): UpstreamTarget {
  let target = targets.get(registration);
  if (target === undefined) {
    const base = new URL(registration.baseUrl!);
    target = {
      origin: base.origin,
      scheme: base.protocol.slice(0, -1),
      authority: base.host,
      hostname: base.hostname,
      port: base.port,
      https: base.protocol === "https:",
      pathPrefix: base.pathname.replace(/\/$/, ""),
    };
    targets.set(registration, target);
  }
  return target;
}
