import type { EventStream } from "@cpg/plugin-sdk/internal";
import type { CapabilityGrant } from "../broker/capability-grant.js";
import type { HostEvent } from "../events/host-event.js";
import type { RuntimeIdentity } from "../identity/runtime-identity.js";
import type { AuditFunction } from "./audit-sink.js";

/**
 * The audit trail a host derives from its own state changes, plus the hooks
 * the host wires where no host event carries the fact.
 * @private
 */
export interface HostAudit {
  /** For the grant store's `onRemove`: audits `capability.grant_revoked` / `capability.grant_expired`. */
  grantEnded(grant: CapabilityGrant, reason: "expired" | "revoked"): void;
  /**
   * Wraps the router's caller policy: a refusal is audited as
   * `router.call_denied` (who, which service type, why).
   */
  callerPolicy(
    mayCall: (caller: RuntimeIdentity, serviceType: string) => boolean,
  ): (caller: RuntimeIdentity, serviceType: string) => boolean;
  /** Stops following the host events. */
  close(): void;
}

// Codes of routed calls that the provider refused for authorization.
const refusedCodes = new Set(["permission_denied", "unauthenticated"]);

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * Creates the host's {@link HostAudit}: follows `events` and audits
 *
 * - `runtime.issued`, `runtime.refreshed` (token refresh), `runtime.revoked`
 *   and `runtime.expired` (`runtime_id`, `self_id`, `expires_at`);
 * - `service.registered` and `service.unregistered` (`registration_id`,
 *   `runtime_id`, `self_id`, `service_type`, `version`, `endpoint_path`, and
 *   the `reason` of an unregistration);
 * - `router.call_denied` with `by: "provider"` for routed calls a provider
 *   answered with `permission_denied` or `unauthenticated`.
 *
 * Handshakes, denials, grants and capability calls are audited where they
 * happen (handshake, registry, broker and admin services, capability gateway).
 * Never records tokens: events carry ids only.
 * @private
 */
export function createHostAudit(options: {
  events: EventStream<HostEvent>;
  audit: AuditFunction;
}): HostAudit {
  const { audit } = options;
  // self_id of live runtimes, to name them once their identity is gone.
  const selfIds = new Map<string, string>();
  const unsubscribe = options.events.subscribe((event) => {
    switch (event.type) {
      case "runtime.issued":
        selfIds.set(event.runtimeId, event.selfId);
        audit("runtime.issued", {
          runtime_id: event.runtimeId,
          self_id: event.selfId,
          expires_at: iso(event.expiresAt),
        });
        return;
      case "runtime.refreshed":
        audit("runtime.refreshed", {
          runtime_id: event.runtimeId,
          self_id: selfIds.get(event.runtimeId),
          expires_at: iso(event.expiresAt),
        });
        return;
      case "runtime.ended":
        audit(event.reason === "expired" ? "runtime.expired" : "runtime.revoked", {
          runtime_id: event.runtimeId,
          self_id: selfIds.get(event.runtimeId),
        });
        selfIds.delete(event.runtimeId);
        return;
      case "service.registered":
      case "service.unregistered": {
        const r = event.registration;
        audit(event.type, {
          registration_id: r.id,
          runtime_id: r.runtimeId,
          self_id: r.selfId,
          service_type: r.serviceType,
          version: r.version,
          endpoint_path: r.endpointPath,
          ...(event.type === "service.unregistered" ? { reason: event.reason } : {}),
        });
        return;
      }
      case "route.completed":
        if (!refusedCodes.has(event.code)) return;
        audit("router.call_denied", {
          by: "provider",
          runtime_id: event.callerId,
          self_id: selfIds.get(event.callerId),
          provider_id: event.providerId,
          service_type: event.serviceType,
          procedure: event.procedure,
          code: event.code,
        });
        return;
      default:
        return;
    }
  });
  return {
    grantEnded(grant, reason) {
      audit(reason === "expired" ? "capability.grant_expired" : "capability.grant_revoked", {
        grant_id: grant.grantId,
        runtime_id: grant.runtimeId,
        self_id: grant.selfId,
        capability_type: grant.capabilityType,
      });
    },
    callerPolicy(mayCall) {
      return (caller, serviceType) => {
        const allowed = mayCall(caller, serviceType);
        if (!allowed) {
          audit("router.call_denied", {
            by: "host",
            runtime_id: caller.runtimeId,
            self_id: caller.selfId,
            service_type: serviceType,
            code: "permission_denied",
            reason: "caller policy: service type neither in requires nor allowed",
          });
        }
        return allowed;
      };
    },
    close: unsubscribe,
  };
}
