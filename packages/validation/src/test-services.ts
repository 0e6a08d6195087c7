// Trivial implementations of the cpg protocol services for interceptor tests,
// served over Connect's in-memory router transport. Not part of the package.
import { create } from "@bufbuild/protobuf";
import { createRouterTransport, type Interceptor, type Transport } from "@connectrpc/connect";
import {
  CapabilityBroker,
  HandshakeService,
  PluginIdentity,
  PluginLifecycle,
  ServiceRegistry,
  ServiceState,
  WatchServiceEventSchema,
} from "@cpg/protocol";

/**
 * An in-memory transport to the cpg host services, with `serverInterceptors`
 * on the server side and `clientInterceptors` on the client side. Handlers
 * accept everything.
 */
export function createTestTransport(
  serverInterceptors: Interceptor[],
  clientInterceptors: Interceptor[] = [],
): Transport {
  return createRouterTransport(
    (router) => {
      router.service(HandshakeService, { handshake: () => ({ coreProtocolVersion: 1 }) });
      router.service(ServiceRegistry, {
        registerService: () => ({ registrationId: "reg-1" }),
        unregisterService: () => ({}),
        discoverService: () => ({}),
        async *watchService(req) {
          yield create(WatchServiceEventSchema, {
            serviceType: req.serviceType,
            state: ServiceState.AVAILABLE,
          });
        },
      });
      router.service(PluginLifecycle, { reportHealth: () => ({}) });
      router.service(CapabilityBroker, { requestCapability: () => ({}) });
      router.service(PluginIdentity, {
        getPluginInfo: () => ({}),
        setRuntimeIdentity: () => ({ acknowledged: true }),
      });
    },
    {
      router: { interceptors: serverInterceptors },
      transport: { interceptors: clientInterceptors },
    },
  );
}
