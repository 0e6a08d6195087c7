import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ConnectRouter } from "@connectrpc/connect";
import type { Logger } from "@cpg/plugin-sdk";
import {
  CapabilityBroker,
  capabilityEndpointUrl,
  RequestCapabilityResponseSchema,
} from "@cpg/protocol";
import { satisfiesMinVersion } from "@cpg/validation";
import type { AuditFunction } from "../audit/audit-sink.js";
import type { RuntimeIdentities } from "../identity/runtime-identities.js";
import type { AllowListPolicy } from "../policy/allow-list-policy.js";
import { callerIdentity } from "../security/caller-identity.js";
import type { CapabilityRegistry } from "./capability-registry.js";
import type { GrantStore } from "./grant-store.js";

/**
 * What the broker needs from the host.
 */
export interface BrokerServiceOptions {
  readonly capabilities: CapabilityRegistry;
  readonly grants: GrantStore;
  readonly identities: RuntimeIdentities;
  /** Which plugins may request which capability types. */
  readonly policy: AllowListPolicy;
  /** Base URL of the host for grant endpoint URLs ("" when unknown: host-relative). */
  readonly hostUrl: () => string;
  readonly logger: Logger;
  /**
   * Audits `capability.granted` (grant id, runtime, capability type, expiry;
   * never the grant token) and `capability.request_denied` (who, what, why).
   * Default: none.
   */
  readonly audit?: AuditFunction;
}

/**
 * Registers `connectplugin.v1.CapabilityBroker`. A request needs a runtime
 * identity and the capability policy's consent; the capability must exist and
 * satisfy `min_version` (semver). The grant is bound to the caller's runtime
 * id and the capability type, and expires after the grant TTL.
 */
export function registerBrokerService(router: ConnectRouter, options: BrokerServiceOptions): void {
  router.service(CapabilityBroker, {
    requestCapability(req, ctx) {
      const caller = callerIdentity(options.identities, ctx);
      const capability = options.capabilities.get(req.capabilityType);
      if (capability === undefined) {
        throw new ConnectError(`no capability "${req.capabilityType}" on this host`, Code.NotFound);
      }
      if (!options.policy.allows(caller, req.capabilityType)) {
        options.logger.warn("capability request denied", {
          runtime_id: caller.runtimeId,
          capability_type: req.capabilityType,
        });
        const denied = new ConnectError(
          `plugin "${caller.selfId}" may not use capability "${req.capabilityType}"`,
          Code.PermissionDenied,
        );
        options.audit?.("capability.request_denied", {
          runtime_id: caller.runtimeId,
          self_id: caller.selfId,
          capability_type: req.capabilityType,
          code: "permission_denied",
          reason: denied.rawMessage,
        });
        throw denied;
      }
      if (req.minVersion !== "" && !satisfiesMinVersion(capability.version, req.minVersion)) {
        throw new ConnectError(
          `capability "${req.capabilityType}" is version ${capability.version}, older than the requested ${req.minVersion}`,
          Code.FailedPrecondition,
        );
      }
      const grant = options.grants.issue({
        capabilityType: req.capabilityType,
        runtimeId: caller.runtimeId,
        selfId: caller.selfId,
        reason: req.reason,
      });
      options.audit?.("capability.granted", {
        grant_id: grant.grantId,
        runtime_id: caller.runtimeId,
        self_id: caller.selfId,
        capability_type: req.capabilityType,
        version: capability.version,
        expires_at: new Date(grant.expiresAt).toISOString(),
        requested_reason: req.reason,
      });
      options.logger.info("capability granted", {
        grant_id: grant.grantId,
        runtime_id: caller.runtimeId,
        capability_type: req.capabilityType,
        reason: req.reason,
      });
      return create(RequestCapabilityResponseSchema, {
        grant: {
          grantId: grant.grantId,
          endpointUrl: capabilityEndpointUrl(options.hostUrl(), req.capabilityType, grant.grantId),
          bearerToken: grant.token,
          capabilityType: req.capabilityType,
          version: capability.version,
          expiresUnixMs: BigInt(grant.expiresAt),
        },
      });
    },
  });
}
