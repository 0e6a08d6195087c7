/**
 * Path prefix of the host router: `/services/{type}/{provider}/{rest}`.
 */
export const SERVICES_PATH_PREFIX = "/services/";

/**
 * A parsed router path.
 */
export interface ServiceRoute {
  /** The `{type}` segment: the service type being called. */
  readonly serviceType: string;
  /** The `{provider}` segment: the provider's runtime id. */
  readonly providerId: string;
  /**
   * Everything after the provider segment, without the leading slash: either a
   * method name (`Log`, the connect-plugin-go form) or a full procedure
   * (`kv.v1.KVService/Put`, the generated-client form). Empty when the path
   * ends at the provider.
   */
  readonly rest: string;
}

/**
 * Builds the host-relative endpoint URL that discovery returns for a provider:
 * `/services/{serviceType}/{providerId}`.
 */
export function serviceEndpointUrl(serviceType: string, providerId: string): string {
  return `${SERVICES_PATH_PREFIX}${serviceType}/${providerId}`;
}

/**
 * Parses a router path `/services/{type}/{provider}[/{rest}]`. Returns
 * `undefined` when the path is not a router path or a segment is empty.
 * A query string, if present, is ignored.
 */
export function parseServiceRoute(path: string): ServiceRoute | undefined {
  const q = path.indexOf("?");
  const pathname = q === -1 ? path : path.slice(0, q);
  if (!pathname.startsWith(SERVICES_PATH_PREFIX)) {
    return undefined;
  }
  const tail = pathname.slice(SERVICES_PATH_PREFIX.length);
  const typeEnd = tail.indexOf("/");
  if (typeEnd <= 0) {
    return undefined;
  }
  const providerStart = typeEnd + 1;
  const providerEnd = tail.indexOf("/", providerStart);
  const providerId =
    providerEnd === -1 ? tail.slice(providerStart) : tail.slice(providerStart, providerEnd);
  if (providerId.length === 0) {
    return undefined;
  }
  return {
    serviceType: tail.slice(0, typeEnd),
    providerId,
    rest: providerEnd === -1 ? "" : tail.slice(providerEnd + 1),
  };
}

/**
 * Joins a provider's registered endpoint path with the `{rest}` of a router
 * path into the path to call on the provider.
 *
 * Both `{rest}` forms reach the same method, and the service name is never
 * doubled:
 * - `("/logger.v1.Logger/", "Log")` gives `/logger.v1.Logger/Log` (Go form);
 * - `("/logger.v1.Logger/", "logger.v1.Logger/Log")` gives `/logger.v1.Logger/Log`
 *   (generated-client form);
 * - `("/", "kv.v1.KV/Put")` gives `/kv.v1.KV/Put`.
 */
export function joinProviderPath(endpointPath: string, rest: string): string {
  const base = endpointPath.endsWith("/") ? endpointPath : `${endpointPath}/`;
  const slash = rest.indexOf("/");
  if (slash > 0) {
    const service = rest.slice(0, slash);
    // The generated-client form repeats the service the path already names.
    if (base.endsWith(`/${service}/`)) {
      return base + rest.slice(slash + 1);
    }
  }
  return base + rest;
}
