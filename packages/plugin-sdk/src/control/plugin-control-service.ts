import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ConnectRouter, type HandlerContext } from "@connectrpc/connect";
import { constantTimeEqual } from "@cpg/auth";
import {
  AUTHORIZATION_HEADER,
  GetHealthResponseSchema,
  PluginControl,
  parseBearer,
  ShutdownResponseSchema,
} from "@cpg/protocol";
import type { PluginHealthReport } from "../plugin-health.js";

/**
 * Decides whether a caller may use the plugin's control and identity
 * procedures. Returns normally to allow, throws a `ConnectError` to refuse.
 * @private
 */
export type ControlGuard = (ctx: HandlerContext) => void;

/**
 * A guard that requires `Authorization: Bearer <one of the accepted secrets>`
 * whenever `accepted()` returns any secret, and allows everyone otherwise.
 * @private
 */
export function bearerGuard(accepted: () => readonly string[]): ControlGuard {
  return (ctx) => {
    const secrets = accepted();
    if (secrets.length === 0) return;
    const token = parseBearer(ctx.requestHeader.get(AUTHORIZATION_HEADER));
    if (token === undefined) {
      throw new ConnectError("plugin control needs the host's credentials", Code.Unauthenticated);
    }
    let ok = false;
    for (const secret of secrets) ok = constantTimeEqual(token, secret) || ok;
    if (!ok) {
      throw new ConnectError("plugin control refused: wrong credentials", Code.PermissionDenied);
    }
  };
}

/**
 * Registers `connectplugin.v1.PluginControl`: `GetHealth` answers the
 * plugin's own report, `Shutdown` acknowledges and then starts a graceful
 * stop bounded by the requested grace period.
 * @private
 */
export function registerPluginControlService(
  router: ConnectRouter,
  options: {
    health: () => PluginHealthReport;
    shutdown: (gracePeriodMs: number, reason: string) => void;
    guard: ControlGuard;
  },
): void {
  router.service(PluginControl, {
    getHealth() {
      const report = options.health();
      return create(GetHealthResponseSchema, {
        state: report.state,
        reason: report.reason,
        unavailableDependencies: [...report.unavailableDependencies],
      });
    },
    shutdown(req, ctx) {
      options.guard(ctx);
      if (req.gracePeriodSeconds < 0) {
        throw new ConnectError(
          `grace_period_seconds must not be negative, got ${req.gracePeriodSeconds}`,
          Code.InvalidArgument,
        );
      }
      // Answer first; the stop begins once the response is on its way.
      setImmediate(() => options.shutdown(req.gracePeriodSeconds * 1000, req.reason));
      return create(ShutdownResponseSchema, { acknowledged: true });
    },
  });
}
