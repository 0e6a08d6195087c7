import { createPlugin } from "@cpg/plugin-sdk";
import { waitForHealthy } from "../managed/adopt-plugin.js";
import type { Launcher, PluginExit, RunningPlugin } from "./launcher.js";

/**
 * Runs an `@cpg/plugin-sdk` plugin inside the host process. It joins through
 * the host's in-memory transport (the same handshake, interceptors, policies
 * and validation as any plugin) and the router reaches it in memory: no
 * socket is opened for it. Its calls to other in-process plugins go through
 * the router's admission and straight to their implementations. `stop()` really stops it: the plugin closes and
 * its identity is revoked.
 */
export const inMemoryLauncher: Launcher = {
  async launch(spec, ctx) {
    if (spec.strategy.kind !== "in-memory")
      throw new Error("in-memory launcher needs an in-memory spec");
    const { host } = ctx;
    const plugin = createPlugin({ logger: ctx.logger, ...spec.strategy.plugin });
    const detach = spec.strategy.attach?.(plugin);
    let creds: Awaited<ReturnType<typeof plugin.joinWith>>;
    try {
      creds = await plugin.joinWith(
        "memory://host",
        (interceptors) => host.createInMemoryTransport({ interceptors, plugin }),
        {
          ...(host.url ? { routerUrl: host.url } : {}),
          // Calls to other in-process plugins skip sockets and serialization.
          routerTransport: (endpointUrl, interceptors) =>
            host.createRouterTransport(endpointUrl, interceptors),
        },
      );
      await waitForHealthy(
        { health: host.health, events: host.events },
        creds.runtimeId,
        ctx.healthyTimeoutMs,
      ).promise;
    } catch (error) {
      detach?.();
      await plugin.close(0);
      throw error;
    }
    const running: RunningPlugin = {
      runtimeId: creds.runtimeId,
      url: undefined,
      pid: undefined,
      exited: new Promise<PluginExit>(() => {}),
      async stop(graceMs) {
        detach?.();
        await plugin.close(graceMs);
        host.identities.revoke(creds.runtimeId);
      },
    };
    return running;
  },
};
