/**
 * Path prefix of capability calls: `/capabilities/{type}/{grant_id}/...`.
 */
export const CAPABILITIES_PATH_PREFIX = "/capabilities/";

/**
 * Path prefix under which connect-plugin-go advertises the capability broker in
 * `Capability.endpoint`. cpg serves `RequestCapability` both there and at its
 * standard path.
 */
export const BROKER_PATH_PREFIX = "/broker";

/**
 * A parsed capability call path.
 */
export interface CapabilityRoute {
  /** The `{type}` segment: the capability type. */
  readonly capabilityType: string;
  /** The `{grant_id}` segment. */
  readonly grantId: string;
  /** The procedure after the grant, with its leading slash (e.g. `/capability.logger.v1.Logger/Log`), or "". */
  readonly procedure: string;
}

/**
 * Builds a grant's `endpoint_url`: `<hostBaseUrl>/capabilities/{type}/{grantId}`.
 * A trailing slash on `hostBaseUrl` is ignored.
 */
export function capabilityEndpointUrl(
  hostBaseUrl: string,
  capabilityType: string,
  grantId: string,
): string {
  const base = hostBaseUrl.endsWith("/") ? hostBaseUrl.slice(0, -1) : hostBaseUrl;
  return `${base}${CAPABILITIES_PATH_PREFIX}${capabilityType}/${grantId}`;
}

/**
 * Parses `/capabilities/{type}/{grant_id}[/{procedure}]`. Returns `undefined`
 * when the path is not a capability path or a segment is empty. A query
 * string, if present, is ignored.
 */
export function parseCapabilityRoute(path: string): CapabilityRoute | undefined {
  const q = path.indexOf("?");
  const pathname = q === -1 ? path : path.slice(0, q);
  if (!pathname.startsWith(CAPABILITIES_PATH_PREFIX)) {
    return undefined;
  }
  const tail = pathname.slice(CAPABILITIES_PATH_PREFIX.length);
  const typeEnd = tail.indexOf("/");
  if (typeEnd <= 0) {
    return undefined;
  }
  const grantEnd = tail.indexOf("/", typeEnd + 1);
  const grantId = grantEnd === -1 ? tail.slice(typeEnd + 1) : tail.slice(typeEnd + 1, grantEnd);
  if (grantId.length === 0) {
    return undefined;
  }
  return {
    capabilityType: tail.slice(0, typeEnd),
    grantId,
    procedure: grantEnd === -1 ? "" : tail.slice(grantEnd),
  };
}
