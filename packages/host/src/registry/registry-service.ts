import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ConnectRouter, type ServiceImpl } from "@connectrpc/connect";
import type { Logger } from "@cpg/plugin-sdk";
import { STREAM_END_HOOKS, type StreamEnd } from "@cpg/plugin-sdk/internal";
import {
  BASE_URL_METADATA_KEY,
  DiscoverServiceResponseSchema,
  HealthState,
  RegisterServiceResponseSchema,
  ServiceEndpointSchema,
  ServiceRegistry as ServiceRegistryService,
  serviceEndpointUrl,
  UnregisterServiceResponseSchema,
  type WatchServiceEvent,
  WatchServiceEventSchema,
} from "@cpg/protocol";
import type { AuditFunction } from "../audit/audit-sink.js";
import type { PluginHealthTable } from "../health/plugin-health.js";
import type { RuntimeIdentities } from "../identity/runtime-identities.js";
import type { RuntimeIdentity } from "../identity/runtime-identity.js";
import type { AllowListPolicy } from "../policy/allow-list-policy.js";
import { callerIdentity } from "../security/caller-identity.js";
import { PUSH_MESSAGES, type PushableMessages } from "../server/pushed-messages.js";
import { linkedSignal } from "./linked-signal.js";
import type { Registration } from "./registration.js";
import type { Selector } from "./selection-strategy.js";
import type { ServiceRegistry } from "./service-registry.js";
import type { ServiceStatus, ServiceWatchHub } from "./service-watch.js";

/**
 * What the registry service needs from the host.
 */
export interface RegistryServiceOptions {
  readonly registry: ServiceRegistry;
  readonly watches: ServiceWatchHub;
  readonly identities: RuntimeIdentities;
  readonly health: PluginHealthTable;
  readonly selector: Selector;
  /** Which plugins may discover and watch which service types. */
  readonly discoveryPolicy: AllowListPolicy;
  /** Return `base_url` to discoverers. */
  readonly exposeBaseUrl: boolean;
  /** Aborts at host shutdown: ends every watch stream. */
  readonly stop: AbortSignal;
  readonly logger: Logger;
  /**
   * Audits refusals: `registration.denied`, `unregistration.denied` (a
   * registration of another plugin) and `discovery.denied`, each with who
   * (`runtime_id`, `self_id`), what and why. Default: none.
   */
  readonly audit?: AuditFunction;
}

/**
 * Registers `connectplugin.v1.ServiceRegistry`. Every procedure needs a
 * runtime identity; registration follows the registration policy, discovery
 * and watch the discovery policy, and only the owner may unregister.
 */
export function registerRegistryService(
  router: ConnectRouter,
  options: RegistryServiceOptions,
): void {
  router.service(ServiceRegistryService, registryServiceImpl(options));
}

/**
 * The implementation of `connectplugin.v1.ServiceRegistry` registered by
 * {@link registerRegistryService}; the host also serves its `watchService`
 * on the lean streaming path.
 */
export function registryServiceImpl(options: RegistryServiceOptions) {
  const { registry, identities, logger } = options;
  const audit = options.audit ?? (() => {});

  const endpoint = (r: Registration) => {
    const metadata = { ...r.metadata };
    if (!options.exposeBaseUrl) delete metadata[BASE_URL_METADATA_KEY];
    return create(ServiceEndpointSchema, {
      providerId: r.runtimeId,
      version: r.version,
      endpointUrl: serviceEndpointUrl(r.serviceType, r.runtimeId),
      metadata,
    });
  };

  const watchEvents = new WeakMap<ServiceStatus, WatchServiceEvent>();

  const mayDiscover = (caller: RuntimeIdentity, serviceType: string, procedure: string) => {
    // A plugin may always find what it declared it requires.
    if (
      !caller.requires.includes(serviceType) &&
      !options.discoveryPolicy.allows(caller, serviceType)
    ) {
      const denied = new ConnectError(
        `plugin "${caller.selfId}" may not discover service type "${serviceType}"`,
        Code.PermissionDenied,
      );
      audit("discovery.denied", {
        runtime_id: caller.runtimeId,
        self_id: caller.selfId,
        service_type: serviceType,
        procedure,
        code: "permission_denied",
        reason: denied.rawMessage,
      });
      throw denied;
    }
  };

  return {
    registerService(req, ctx) {
      const caller = callerIdentity(identities, ctx);
      let registration: Registration;
      try {
        registration = registry.register(caller, {
          serviceType: req.serviceType,
          version: req.version,
          endpointPath: req.endpointPath,
          metadata: req.metadata,
        });
      } catch (error) {
        if (error instanceof ConnectError && error.code === Code.PermissionDenied) {
          audit("registration.denied", {
            runtime_id: caller.runtimeId,
            self_id: caller.selfId,
            service_type: req.serviceType,
            version: req.version,
            code: "permission_denied",
            reason: error.rawMessage,
          });
        }
        throw error;
      }
      logger.info("service registered", {
        registration_id: registration.id,
        runtime_id: caller.runtimeId,
        service_type: registration.serviceType,
        version: registration.version,
      });
      return create(RegisterServiceResponseSchema, { registrationId: registration.id });
    },
    unregisterService(req, ctx) {
      const caller = callerIdentity(identities, ctx);
      const target = registry.get(req.registrationId);
      if (target !== undefined && target.runtimeId !== caller.runtimeId) {
        // The caller gets not_found (ids cannot be probed); the audit log says why.
        audit("unregistration.denied", {
          runtime_id: caller.runtimeId,
          self_id: caller.selfId,
          registration_id: target.id,
          service_type: target.serviceType,
          owner_runtime_id: target.runtimeId,
          code: "not_found",
          reason: "only the registering plugin may unregister a registration",
        });
      }
      const registration = registry.unregister(req.registrationId, caller);
      logger.info("service unregistered", {
        registration_id: registration.id,
        runtime_id: caller.runtimeId,
        service_type: registration.serviceType,
      });
      return create(UnregisterServiceResponseSchema, {});
    },
    discoverService(req, ctx) {
      const caller = callerIdentity(identities, ctx);
      mayDiscover(caller, req.serviceType, "DiscoverService");
      const candidates = registry.routable(req.serviceType, req.minVersion);
      if (candidates.length === 0) {
        throw new ConnectError(
          req.minVersion === ""
            ? `no available provider of service type "${req.serviceType}"`
            : `no available provider of service type "${req.serviceType}" with version >= ${req.minVersion}`,
          Code.NotFound,
        );
      }
      const chosen = options.selector(
        req.serviceType,
        candidates,
        (runtimeId) => options.health.get(runtimeId)?.state ?? HealthState.UNSPECIFIED,
      );
      return create(DiscoverServiceResponseSchema, {
        endpoint: endpoint(chosen),
        singleProvider: candidates.length === 1,
      });
    },
    watchService(req, ctx): AsyncIterable<WatchServiceEvent> {
      // Every watcher of a type sees the same status object after a change:
      // they share one event message (and so one encoding).
      const eventOf = (status: ServiceStatus) => {
        let event = watchEvents.get(status);
        if (event === undefined) {
          event = create(WatchServiceEventSchema, {
            serviceType: req.serviceType,
            state: status.state,
            ...(status.provider ? { endpoint: endpoint(status.provider) } : {}),
          });
          watchEvents.set(status, event);
        }
        return event;
      };
      // Interceptors watch the end through hooks rather than by wrapping, so
      // that the lean streaming handler gets this object and can have the
      // events pushed (see PushableMessages).
      const hooks: Array<(end: StreamEnd) => void> = [];
      let ended = false;
      const end = (error?: unknown) => {
        if (ended) return;
        ended = true;
        const outcome = { failed: error !== undefined, error };
        for (const hook of hooks) hook(outcome);
      };
      // Checked when the stream starts, as an async generator would.
      const begin = () => {
        const caller = callerIdentity(identities, ctx);
        mayDiscover(caller, req.serviceType, "WatchService");
        return linkedSignal([ctx.signal, options.stop]);
      };
      const messages: PushableMessages<WatchServiceEvent> = {
        [STREAM_END_HOOKS](hook) {
          hooks.push(hook);
        },
        [PUSH_MESSAGES](deliver) {
          return new Promise<void>((resolve, reject) => {
            let linked: ReturnType<typeof linkedSignal>;
            try {
              linked = begin();
            } catch (error) {
              end(error);
              reject(error);
              return;
            }
            options.watches.subscribe(
              req.serviceType,
              linked.signal,
              (status) => deliver(eventOf(status)),
              (error) => {
                linked.dispose();
                end(error);
                if (error === undefined) resolve();
                else reject(error);
              },
            );
          });
        },
        [Symbol.asyncIterator](): AsyncIterator<WatchServiceEvent> {
          let inner: AsyncIterator<WatchServiceEvent> | undefined;
          const start = () => {
            const linked = begin();
            const closed = () => {
              linked.dispose();
              end();
            };
            return options.watches
              .watch(req.serviceType, linked.signal, eventOf, closed)
              [Symbol.asyncIterator]();
          };
          return {
            next() {
              try {
                inner ??= start();
              } catch (error) {
                end(error);
                return Promise.reject(error);
              }
              return inner.next();
            },
            return() {
              if (inner?.return) return inner.return();
              end();
              return Promise.resolve({ done: true, value: undefined });
            },
          };
        },
      };
      return messages;
    },
  } satisfies ServiceImpl<typeof ServiceRegistryService>;
}
