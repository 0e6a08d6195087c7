import { create } from "@bufbuild/protobuf";
import type { ConnectRouter } from "@connectrpc/connect";
import type { Logger } from "@cpg/plugin-sdk";
import { PluginLifecycle, ReportHealthResponseSchema } from "@cpg/protocol";
import type { RuntimeIdentities } from "../identity/runtime-identities.js";
import { callerIdentity } from "../security/caller-identity.js";
import type { PluginHealthTable } from "./plugin-health.js";

/**
 * Registers `connectplugin.v1.PluginLifecycle` on a router. `ReportHealth`
 * needs an authenticated runtime identity (the host's auth interceptor
 * enforces it); the report is recorded for that identity only, and the change
 * feeds discovery, routing and watchers through the host events.
 */
export function registerLifecycleService(
  router: ConnectRouter,
  health: PluginHealthTable,
  identities: RuntimeIdentities,
  logger: Logger,
): void {
  router.service(PluginLifecycle, {
    reportHealth(req, ctx) {
      // Only a plugin's own runtime token may report its health: operator
      // credentials are authenticated too, but they are nobody's health.
      const caller = callerIdentity(identities, ctx);
      health.report(caller.runtimeId, {
        state: req.state,
        reason: req.reason,
        unavailableDependencies: [...req.unavailableDependencies],
      });
      logger.debug("health reported", { runtime_id: caller.runtimeId, state: req.state });
      return create(ReportHealthResponseSchema, {});
    },
  });
}
