import { createClient } from "@connectrpc/connect";
import { BASE_URL_METADATA_KEY, ServiceRegistry } from "@cpg/protocol";
import type { HostSession } from "../host-link/host-session.js";
import type { Logger } from "../logging/logger.js";
import type { ServiceDeclarationInfo } from "../provided-service.js";

/**
 * Registers a plugin's declared services with its host.
 * @private
 */
export interface ServiceRegistrar {
  /** Registers every declared service for the session's current identity. */
  registerAll(): Promise<void>;
  /** Unregisters what `registerAll` registered (best effort). */
  unregisterAll(): Promise<void>;
  /** Registration ids by service type. */
  readonly registrations: ReadonlyMap<string, string>;
}

/**
 * Creates a {@link ServiceRegistrar}. Each registration carries `base_url`
 * (where the plugin listens, when known) and `http2: "true"` (cpg plugins
 * serve HTTP/2, so the host's router can use it).
 * @private
 */
export function createServiceRegistrar(options: {
  session: () => HostSession | undefined;
  declarations: readonly ServiceDeclarationInfo[];
  baseUrl: () => string | undefined;
  logger: Logger;
}): ServiceRegistrar {
  const registrations = new Map<string, string>();
  // The registerAll() under way: unregisterAll() waits for it, or a
  // registration answered after close() began would stay on the host.
  let pending: Promise<void> = Promise.resolve();
  const register = async () => {
    const session = options.session();
    if (!session?.credentials || options.declarations.length === 0) return;
    const client = createClient(ServiceRegistry, session.transport);
    registrations.clear();
    const baseUrl = options.baseUrl();
    for (const d of options.declarations) {
      const metadata: Record<string, string> = { http2: "true" };
      if (baseUrl !== undefined) metadata[BASE_URL_METADATA_KEY] = baseUrl;
      try {
        const res = await client.registerService({
          serviceType: d.type,
          version: d.version,
          endpointPath: d.path,
          metadata,
        });
        registrations.set(d.type, res.registrationId);
        options.logger.info("service registered", {
          service_type: d.type,
          registration_id: res.registrationId,
        });
      } catch (error) {
        options.logger.error("could not register service", { service_type: d.type, error });
      }
    }
  };
  return {
    registrations,
    registerAll() {
      pending = register();
      return pending;
    },
    async unregisterAll() {
      // Bounded like the unregistrations: an unresponsive host must not stall close().
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        pending,
        new Promise((resolve) => {
          timer = setTimeout(resolve, 2000);
        }),
      ]);
      clearTimeout(timer);
      const session = options.session();
      if (!session?.credentials) return;
      const client = createClient(ServiceRegistry, session.transport);
      for (const [type, id] of [...registrations]) {
        registrations.delete(type);
        await client.unregisterService({ registrationId: id }, { timeoutMs: 2000 }).catch(() => {});
      }
    },
  };
}
