import type { HealthState } from "@cpg/protocol";
import type { Registration } from "../registry/registration.js";

/**
 * Everything that happens to plugins on a host, as one stream of events.
 * Registry, router, broker and audit subscribe to it through
 * `host.events.subscribe(...)`.
 */
export type HostEvent =
  | {
      /** A handshake issued a runtime identity. */
      readonly type: "runtime.issued";
      readonly runtimeId: string;
      readonly selfId: string;
      readonly expiresAt: number;
    }
  | {
      /** A runtime token was replaced by a fresh one for the same runtime id. */
      readonly type: "runtime.refreshed";
      readonly runtimeId: string;
      readonly expiresAt: number;
    }
  | {
      /** A runtime identity ended: revoked by the host or expired. */
      readonly type: "runtime.ended";
      readonly runtimeId: string;
      readonly reason: "revoked" | "expired";
    }
  | {
      /** A runtime's reported health changed. */
      readonly type: "health.changed";
      readonly runtimeId: string;
      readonly state: HealthState;
      readonly previous: HealthState;
      readonly reason: string;
      readonly unavailableDependencies: readonly string[];
    }
  | {
      /** A runtime reported its health (changed or not). */
      readonly type: "health.reported";
      readonly runtimeId: string;
      readonly state: HealthState;
    }
  | {
      /** The host started or stopped serving. */
      readonly type: "host.serving";
      readonly serving: boolean;
    }
  | {
      /** A plugin registered a service (or replaced its own registration). */
      readonly type: "service.registered";
      readonly registration: Registration;
    }
  | {
      /** A registration ended. */
      readonly type: "service.unregistered";
      readonly registration: Registration;
      readonly reason: "unregistered" | "replaced" | "runtime_ended";
    }
  | {
      /** The router stopped (`ejected: true`) or resumed routing to a provider. */
      readonly type: "provider.ejected";
      readonly runtimeId: string;
      readonly ejected: boolean;
    }
  | {
      /** A routed call finished. */
      readonly type: "route.completed";
      readonly callerId: string;
      readonly providerId: string;
      readonly serviceType: string;
      readonly procedure: string;
      /** Connect code name (`"ok"` on success). */
      readonly code: string;
      readonly durationMs: number;
    };
