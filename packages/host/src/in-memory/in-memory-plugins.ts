import type { Interceptor, Transport } from "@connectrpc/connect";
import { generateToken } from "@cpg/auth";
import type { NodeRequestHandler } from "@cpg/plugin-sdk/internal";
import { parseServiceRoute } from "@cpg/protocol";
import {
  createInProcessRouterTransport,
  type InProcessRoutes,
} from "./in-process-router-transport.js";
import {
  createServiceDispatch,
  type InProcessPlugin,
  type ServiceDispatch,
} from "./service-dispatch.js";

// Header of the host's in-memory transports; see InMemoryPlugins.ticket.
const IN_MEMORY_TICKET_HEADER = "x-cpg-in-memory-ticket";

/** An in-process plugin as a host's in-memory transport is given it. */
export type InMemoryPluginInput =
  | NodeRequestHandler
  | (InProcessPlugin & { readonly handler: NodeRequestHandler });

/**
 * The host's in-process plugins: which runtime is which plugin, so that the
 * router reaches them in memory and in-process callers reach them directly.
 */
export interface InMemoryPlugins {
  /**
   * An interceptor for the plugin's in-memory transport to the host: it
   * carries a ticket only that transport has, which {@link bind} turns into
   * the runtime id the handshake issues.
   */
  ticket(plugin: InMemoryPluginInput): Interceptor;
  /** Binds a runtime id just issued to the plugin whose ticket the handshake carried. */
  bind(runtimeId: string, requestHeader: Headers): void;
  /** Forgets a runtime that ended. */
  forget(runtimeId: string): void;
  /** True when `runtimeId` is an in-process plugin. */
  has(runtimeId: string): boolean;
  /** The request handler of an in-process plugin. */
  handler(runtimeId: string): NodeRequestHandler | undefined;
  /** The implementations of an in-process plugin, when known. */
  dispatch(runtimeId: string): ServiceDispatch | undefined;
  /** A direct transport to the provider at `endpointUrl`, when it is in process. */
  routerTransport(
    endpointUrl: string,
    interceptors: Interceptor[],
    routes: InProcessRoutes,
  ): Transport | undefined;
}

interface InMemoryPlugin {
  readonly handler: NodeRequestHandler;
  readonly dispatch: ServiceDispatch | undefined;
}

/**
 * Creates the host's {@link InMemoryPlugins}.
 */
export function createInMemoryPlugins(): InMemoryPlugins {
  const tickets = new Map<string, InMemoryPlugin>();
  const runtimes = new Map<string, InMemoryPlugin>();
  return {
    ticket(plugin) {
      const ticket = generateToken();
      tickets.set(
        ticket,
        typeof plugin === "function"
          ? { handler: plugin, dispatch: undefined }
          : { handler: plugin.handler, dispatch: createServiceDispatch(plugin) },
      );
      return (next) => (req) => {
        req.header.set(IN_MEMORY_TICKET_HEADER, ticket);
        return next(req);
      };
    },
    bind(runtimeId, requestHeader) {
      const ticket = requestHeader.get(IN_MEMORY_TICKET_HEADER);
      const plugin = ticket === null ? undefined : tickets.get(ticket);
      if (plugin) runtimes.set(runtimeId, plugin);
    },
    forget(runtimeId) {
      runtimes.delete(runtimeId);
    },
    has: (runtimeId) => runtimes.has(runtimeId),
    handler: (runtimeId) => runtimes.get(runtimeId)?.handler,
    dispatch: (runtimeId) => runtimes.get(runtimeId)?.dispatch,
    routerTransport(endpointUrl, interceptors, routes) {
      const route = parseServiceRoute(`${endpointUrl}/x`);
      if (route === undefined) return undefined;
      const providerId = routes.resolve(route.serviceType, route.providerId);
      if (runtimes.get(providerId)?.dispatch === undefined) return undefined;
      return createInProcessRouterTransport({ endpointUrl, interceptors, routes });
    },
  };
}
