import { Code, ConnectError } from "@connectrpc/connect";
import { generateId } from "@cpg/auth";
import type { EventStream } from "@cpg/plugin-sdk/internal";
import { BASE_URL_METADATA_KEY, HealthState } from "@cpg/protocol";
import { satisfiesMinVersion } from "@cpg/validation";
import type { HostEvent } from "../events/host-event.js";
import type { PluginHealthTable } from "../health/plugin-health.js";
import type { RuntimeIdentity } from "../identity/runtime-identity.js";
import type { AllowListPolicy } from "../policy/allow-list-policy.js";
import type { Registration } from "./registration.js";

/**
 * Options of {@link createServiceRegistry}.
 */
export interface ServiceRegistryOptions {
  readonly events: EventStream<HostEvent>;
  readonly health: PluginHealthTable;
  readonly now: () => number;
  /** Which plugins may register which service types. */
  readonly registrationPolicy: AllowListPolicy;
  /**
   * `"first-self-id"`: a service type belongs to the first self_id that
   * registers it; other plugins may provide it only when their allow-list
   * names the type explicitly (a `"*"` entry is not enough). `"shared"`: any
   * plugin the registration policy allows may provide any type.
   */
  readonly typeOwnership: "shared" | "first-self-id";
  /** Most registrations one runtime may hold. */
  readonly maxPerRuntime: number;
  /** Most registrations on the host. */
  readonly maxTotal: number;
  /** Explicit allow-list check for type ownership (see `typeOwnership`). */
  readonly explicitlyAllowed: (identity: RuntimeIdentity, serviceType: string) => boolean;
  /** Base URL the host knows for a runtime (managed and in-memory plugins). */
  readonly knownBaseUrl: (runtimeId: string) => string | undefined;
}

/**
 * What a plugin asks to register.
 */
export interface RegistrationRequest {
  readonly serviceType: string;
  readonly version: string;
  readonly endpointPath: string;
  readonly metadata: Readonly<Record<string, string>>;
}

/**
 * The host's service registry: who provides what, and where.
 */
export interface ServiceRegistry {
  /** Registers a service for `caller`; replaces the caller's own registration of the same type and path. */
  register(caller: RuntimeIdentity, request: RegistrationRequest): Registration;
  /** Removes a registration; only its owner (or the host, `caller` undefined) may. */
  unregister(registrationId: string, caller: RuntimeIdentity | undefined): Registration;
  /**
   * Takes over a registration made through another host replica as it is
   * (replicated mode): no policy or limit checks, since the replica that
   * accepted it made them. It replaces the runtime's registration of the same
   * type and path; an identical registration already present changes nothing.
   */
  restore(registration: Registration): void;
  /** A registration by id. */
  get(registrationId: string): Registration | undefined;
  /** Every registration of a service type, in registration order. */
  providers(serviceType: string): readonly Registration[];
  /**
   * Registrations of a service type that may receive calls: provider not
   * UNHEALTHY, not ejected by the router, version satisfying `minVersion`.
   */
  routable(serviceType: string, minVersion?: string): Registration[];
  /** The registration of `serviceType` by `runtimeId`, if any. */
  find(serviceType: string, runtimeId: string): Registration | undefined;
  /** Every registration of a runtime. */
  byRuntime(runtimeId: string): readonly Registration[];
  /** Removes every registration of a runtime (its identity ended). */
  removeRuntime(runtimeId: string): void;
  /** Stops routing to a provider until it reports HEALTHY again. */
  eject(runtimeId: string): void;
  /** Whether the router took a provider out. */
  isEjected(runtimeId: string): boolean;
  /** Every service type with at least one registration. */
  serviceTypes(): string[];
  /** Number of registrations. */
  readonly size: number;
}

function sameRegistration(a: Registration, b: Registration): boolean {
  if (
    a.runtimeId !== b.runtimeId ||
    a.selfId !== b.selfId ||
    a.serviceType !== b.serviceType ||
    a.version !== b.version ||
    a.endpointPath !== b.endpointPath ||
    a.baseUrl !== b.baseUrl ||
    a.http2 !== b.http2 ||
    a.registeredAt !== b.registeredAt
  ) {
    return false;
  }
  const keys = Object.keys(a.metadata);
  return (
    keys.length === Object.keys(b.metadata).length &&
    keys.every((k) => a.metadata[k] === b.metadata[k])
  );
}

function parseBaseUrl(value: string): string {
  const url = new URL(value);
  return `${url.protocol}//${url.host}${url.pathname === "/" ? "" : url.pathname.replace(/\/$/, "")}`;
}

/**
 * Creates a {@link ServiceRegistry}. Registrations are indexed by type, so
 * discovery costs the same whatever the number of providers of other types.
 */
export function createServiceRegistry(options: ServiceRegistryOptions): ServiceRegistry {
  const byId = new Map<string, Registration>();
  const byType = new Map<string, Map<string, Registration>>();
  const byRuntimeId = new Map<string, Map<string, Registration>>();
  const owners = new Map<string, string>();
  const ejected = new Set<string>();
  const { events, health } = options;

  const add = (r: Registration) => {
    byId.set(r.id, r);
    const t = byType.get(r.serviceType) ?? new Map<string, Registration>();
    byType.set(r.serviceType, t);
    t.set(r.id, r);
    const rt = byRuntimeId.get(r.runtimeId) ?? new Map<string, Registration>();
    byRuntimeId.set(r.runtimeId, rt);
    rt.set(r.id, r);
    if (!owners.has(r.serviceType)) owners.set(r.serviceType, r.selfId);
  };
  const remove = (r: Registration, reason: "unregistered" | "replaced" | "runtime_ended") => {
    byId.delete(r.id);
    const t = byType.get(r.serviceType);
    t?.delete(r.id);
    if (t?.size === 0) {
      byType.delete(r.serviceType);
      owners.delete(r.serviceType);
    }
    const rt = byRuntimeId.get(r.runtimeId);
    rt?.delete(r.id);
    if (rt?.size === 0) byRuntimeId.delete(r.runtimeId);
    events.emit({ type: "service.unregistered", registration: r, reason });
  };

  events.subscribe((event) => {
    if (event.type === "runtime.ended") registry.removeRuntime(event.runtimeId);
    if (
      event.type === "health.changed" &&
      event.state === HealthState.HEALTHY &&
      ejected.delete(event.runtimeId)
    ) {
      events.emit({ type: "provider.ejected", runtimeId: event.runtimeId, ejected: false });
    }
  });

  const registry: Omit<ServiceRegistry, "size"> = {
    register(caller, request) {
      if (!options.registrationPolicy.allows(caller, request.serviceType)) {
        throw new ConnectError(
          `plugin "${caller.selfId}" may not register service type "${request.serviceType}"`,
          Code.PermissionDenied,
        );
      }
      const owner = owners.get(request.serviceType);
      if (
        options.typeOwnership === "first-self-id" &&
        owner !== undefined &&
        owner !== caller.selfId &&
        !options.explicitlyAllowed(caller, request.serviceType)
      ) {
        throw new ConnectError(
          `service type "${request.serviceType}" is provided by plugin "${owner}"; plugin "${caller.selfId}" needs an explicit allow-list entry for it`,
          Code.PermissionDenied,
        );
      }
      const declared = request.metadata[BASE_URL_METADATA_KEY];
      const baseUrl = declared ? parseBaseUrl(declared) : options.knownBaseUrl(caller.runtimeId);
      if (baseUrl === undefined) {
        throw new ConnectError(
          `registration of "${request.serviceType}" needs metadata "${BASE_URL_METADATA_KEY}": the URL where the plugin listens`,
          Code.FailedPrecondition,
        );
      }
      const own = byRuntimeId.get(caller.runtimeId);
      const previous = own
        ? [...own.values()].find(
            (r) => r.serviceType === request.serviceType && r.endpointPath === request.endpointPath,
          )
        : undefined;
      if (previous === undefined) {
        if ((own?.size ?? 0) >= options.maxPerRuntime) {
          throw new ConnectError(
            `too many registrations for runtime ${caller.runtimeId} (max: ${options.maxPerRuntime})`,
            Code.ResourceExhausted,
          );
        }
        if (byId.size >= options.maxTotal) {
          throw new ConnectError(
            `too many registrations on the host (max: ${options.maxTotal})`,
            Code.ResourceExhausted,
          );
        }
      }
      const registration: Registration = {
        id: `reg-${generateId(8)}`,
        runtimeId: caller.runtimeId,
        selfId: caller.selfId,
        serviceType: request.serviceType,
        version: request.version,
        endpointPath: request.endpointPath,
        metadata: { ...request.metadata },
        baseUrl,
        http2: request.metadata.http2 === "true",
        registeredAt: options.now(),
      };
      if (previous) remove(previous, "replaced");
      add(registration);
      events.emit({ type: "service.registered", registration });
      return registration;
    },
    unregister(registrationId, caller) {
      const r = byId.get(registrationId);
      // Same answer for "unknown" and "someone else's", so ids cannot be probed.
      if (r === undefined || (caller !== undefined && r.runtimeId !== caller.runtimeId)) {
        throw new ConnectError(`no registration ${registrationId} of this plugin`, Code.NotFound);
      }
      remove(r, "unregistered");
      return r;
    },
    restore(registration) {
      const existing = byId.get(registration.id);
      if (existing !== undefined) {
        if (sameRegistration(existing, registration)) return;
        remove(existing, "replaced");
      }
      const own = byRuntimeId.get(registration.runtimeId);
      if (own) {
        for (const r of [...own.values()]) {
          if (
            r.serviceType === registration.serviceType &&
            r.endpointPath === registration.endpointPath
          ) {
            remove(r, "replaced");
          }
        }
      }
      add(registration);
      events.emit({ type: "service.registered", registration });
    },
    get: (id) => byId.get(id),
    providers(serviceType) {
      const t = byType.get(serviceType);
      return t ? [...t.values()] : [];
    },
    routable(serviceType, minVersion = "") {
      const t = byType.get(serviceType);
      if (!t) return [];
      const out: Registration[] = [];
      for (const r of t.values()) {
        if (ejected.has(r.runtimeId)) continue;
        if (health.get(r.runtimeId)?.state === HealthState.UNHEALTHY) continue;
        if (minVersion !== "" && !satisfiesMinVersion(r.version, minVersion)) continue;
        out.push(r);
      }
      return out;
    },
    find(serviceType, runtimeId) {
      const rt = byRuntimeId.get(runtimeId);
      if (!rt) return undefined;
      for (const r of rt.values()) if (r.serviceType === serviceType) return r;
      return undefined;
    },
    byRuntime(runtimeId) {
      const rt = byRuntimeId.get(runtimeId);
      return rt ? [...rt.values()] : [];
    },
    removeRuntime(runtimeId) {
      for (const r of registry.byRuntime(runtimeId)) remove(r, "runtime_ended");
      ejected.delete(runtimeId);
    },
    eject(runtimeId) {
      if (ejected.has(runtimeId)) return;
      ejected.add(runtimeId);
      events.emit({ type: "provider.ejected", runtimeId, ejected: true });
    },
    isEjected: (runtimeId) => ejected.has(runtimeId),
    serviceTypes: () => [...byType.keys()],
  };
  // Not a getter in the literal: V8 keeps object literals with accessors in
  // slow dictionary mode, and every method call would pay for that.
  return Object.defineProperty(registry, "size", {
    get: () => byId.size,
    enumerable: true,
  }) as ServiceRegistry;
}
