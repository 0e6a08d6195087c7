/** A parsed SPIFFE ID: `spiffe://<trustDomain><path>`. */
export interface SpiffeId {
  /** The whole ID, e.g. `spiffe://example.org/plugin/billing`. */
  readonly id: string;
  /** e.g. `example.org`. */
  readonly trustDomain: string;
  /** e.g. `/plugin/billing`; never empty, never ends with `/`. */
  readonly path: string;
}

const MAX_SPIFFE_ID_LENGTH = 2048;
const TRUST_DOMAIN = /^[a-z0-9._-]+$/;
const PATH_SEGMENT = /^[A-Za-z0-9._-]+$/;

/**
 * Parses a workload SPIFFE ID as the SPIFFE standard defines it: scheme
 * `spiffe`, a trust domain of lower-case letters, digits, `.`, `-`, `_`
 * (no port, no user info), and a non-empty path of segments made of letters,
 * digits, `.`, `-`, `_` (no empty, `.` or `..` segment, no trailing slash,
 * no query or fragment), at most 2048 bytes. Returns `undefined` otherwise.
 *
 * @example
 * ```ts
 * parseSpiffeId("spiffe://example.org/plugin/billing")?.trustDomain; // "example.org"
 * parseSpiffeId("spiffe://example.org"); // undefined: no workload path
 * ```
 */
export function parseSpiffeId(value: string): SpiffeId | undefined {
  const prefix = "spiffe://";
  if (value.length > MAX_SPIFFE_ID_LENGTH || !value.startsWith(prefix)) return undefined;
  const rest = value.slice(prefix.length);
  const slash = rest.indexOf("/");
  if (slash < 0) return undefined;
  const trustDomain = rest.slice(0, slash);
  const path = rest.slice(slash);
  if (!isTrustDomain(trustDomain)) return undefined;
  const segments = path.slice(1).split("/");
  const validPath = segments.every((s) => PATH_SEGMENT.test(s) && s !== "." && s !== "..");
  return validPath ? { id: value, trustDomain, path } : undefined;
}

/** Whether `value` is a valid SPIFFE trust domain name. */
export function isTrustDomain(value: string): boolean {
  return value.length > 0 && value.length <= 255 && TRUST_DOMAIN.test(value);
}
