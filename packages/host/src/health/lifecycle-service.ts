import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ConnectRouter } from "@connectrpc/connect";
import { getAuthContext } from "@cpg/auth";
import type { Logger } from "@cpg/plugin-sdk";
import { PluginLifecycle, ReportHealthResponseSchema } from "@cpg/protocol";
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
  logger: Logger,
): void {
  router.service(PluginLifecycle, {
    reportHealth(req, ctx) {
      const auth = getAuthContext(ctx.values);
      if (auth === undefined) {
        throw new ConnectError("ReportHealth needs a runtime identity", Code.Unauthenticated);
      }
      health.report(auth.identity, {
        state: req.state,
        reason: req.reason,
        unavailableDependencies: [...req.unavailableDependencies],
      });
      logger.debug("health reported", { runtime_id: auth.identity, state: req.state });
      return create(ReportHealthResponseSchema, {});
    },
  });
}
