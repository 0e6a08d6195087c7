// Test-only: a tiny service used by this package's tests (not exported, not built).
import type { ConnectRouter } from "@connectrpc/connect";
import { HealthState, PluginControl, pluginHealthV1 } from "@cpg/protocol";
import { getAuthContext } from "./auth-context.js";

/** Routes answering with the caller's identity, and a log of handler runs. */
export interface WhoAmIRoutes {
  /** For `createRouterTransport` or `connectNodeAdapter`. */
  readonly routes: (router: ConnectRouter) => void;
  /** One line per handler run: `"<method> <provider>:<identity>"` or `"<method> anonymous"`. */
  readonly calls: string[];
}

/**
 * `PluginControl.GetHealth` answers `reason: "<provider>:<identity>"` (or
 * `"anonymous"`); `HealthService.Watch` streams two SERVING messages.
 */
export function createWhoAmIRoutes(): WhoAmIRoutes {
  const calls: string[] = [];
  const who = (values: Parameters<typeof getAuthContext>[0]) => {
    const auth = getAuthContext(values);
    return auth ? `${auth.provider}:${auth.identity}` : "anonymous";
  };
  return {
    calls,
    routes(router) {
      router.service(PluginControl, {
        getHealth(_req, ctx) {
          const reason = who(ctx.values);
          calls.push(`getHealth ${reason}`);
          return { state: HealthState.HEALTHY, reason };
        },
      });
      router.service(pluginHealthV1.HealthService, {
        async *watch(_req, ctx) {
          calls.push(`watch ${who(ctx.values)}`);
          yield { status: pluginHealthV1.ServingStatus.SERVING };
          yield { status: pluginHealthV1.ServingStatus.SERVING };
        },
      });
    },
  };
}
