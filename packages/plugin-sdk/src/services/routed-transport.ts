import type { Interceptor, Transport } from "@connectrpc/connect";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { ServiceRegistry } from "@cpg/protocol";
import { isConnectionFailure } from "../host-link/connection-failure.js";
import { createFailoverTransport } from "../host-link/failover-transport.js";
import type { HostSession } from "../host-link/host-session.js";
import { PluginError } from "../plugin-error.js";

/**
 * connect-plugin-go's router appends everything after the provider segment to
 * the registered endpoint path, so Go hosts need the method name alone
 * (`/services/{type}/{provider}/Method`). cpg hosts accept both forms.
 */
function methodOnlyPath(baseUrl: string): Interceptor {
  return (next) => (req) => next({ ...req, url: `${baseUrl}/${req.method.name}` });
}

/**
 * A transport that sends every call through the host's router to a provider
 * of `serviceType`: it discovers a provider on first use, reuses it, and
 * discovers again after the router answers `unavailable` or `not_found`.
 *
 * Calls go to the router of the host replica in use. Only when the
 * connection to that replica fails does a call fail over to the next
 * replica (and a unary call is sent again there): an `unavailable` answered
 * through the router comes from the provider or the routing, not from a
 * replica that is down.
 * @private
 */
export function createRoutedTransport(options: {
  session: () => HostSession | undefined;
  serviceType: string;
  minVersion: string;
  /** Base URL of the host's router when it is not the host URL. */
  routerUrl?: () => string | undefined;
  /** Creates an authenticated transport for a base URL on the host. */
  transportFor: (baseUrl: string, interceptors: Interceptor[]) => Transport;
  /**
   * An in-process host's transports by endpoint URL; where one is given, it
   * is used instead of `transportFor`.
   */
  endpointTransport?: () =>
    | ((endpointUrl: string, interceptors: Interceptor[]) => Transport | undefined)
    | undefined;
}): Transport {
  let current: { endpointUrl: string; transport: Transport; runtimeId: string } | undefined;

  const resolve = async (): Promise<Transport> => {
    const session = options.session();
    if (!session?.credentials) {
      throw new PluginError("not_joined", "the plugin has not joined a host yet");
    }
    if (current && current.runtimeId === session.credentials.runtimeId) return current.transport;
    const registry = createClient(ServiceRegistry, session.transport);
    const res = await registry.discoverService({
      serviceType: options.serviceType,
      minVersion: options.minVersion,
    });
    const endpointUrl = res.endpoint?.endpointUrl ?? "";
    if (endpointUrl === "") {
      throw new ConnectError(
        `host returned no endpoint for "${options.serviceType}"`,
        Code.Unavailable,
      );
    }
    const inProcess = options.endpointTransport?.()?.(endpointUrl, [session.authenticate]);
    const transportAt = (baseUrl: string) =>
      options.transportFor(
        baseUrl,
        session.cpgHost ? [session.authenticate] : [session.authenticate, methodOnlyPath(baseUrl)],
      );
    const routerUrl = options.routerUrl?.();
    current = {
      endpointUrl,
      runtimeId: session.credentials.runtimeId,
      transport:
        inProcess ??
        (routerUrl !== undefined
          ? transportAt(`${routerUrl}${endpointUrl}`)
          : createFailoverTransport({
              replicas: session.replicas,
              transportFor: (hostUrl) => transportAt(`${hostUrl}${endpointUrl}`),
              shouldFailOver: isConnectionFailure,
            })),
    };
    return current.transport;
  };

  const forget = (error: unknown) => {
    const code = ConnectError.from(error).code;
    if (code === Code.Unavailable || code === Code.NotFound) current = undefined;
    throw error;
  };

  return {
    async unary(method, signal, timeoutMs, header, input, contextValues) {
      const transport = await resolve();
      return transport.unary(method, signal, timeoutMs, header, input, contextValues).catch(forget);
    },
    async stream(method, signal, timeoutMs, header, input, contextValues) {
      const transport = await resolve();
      return transport
        .stream(method, signal, timeoutMs, header, input, contextValues)
        .catch(forget);
    },
  };
}
