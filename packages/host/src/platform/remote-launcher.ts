import { createClient } from "@connectrpc/connect";
import { createHostTransport, type HostProtocol } from "@cpg/plugin-sdk";
import { AUTHORIZATION_HEADER, bearer, PluginControl } from "@cpg/protocol";
import type { Launcher, PluginExit, RunningPlugin } from "./launcher.js";

/**
 * Asks a plugin to stop with `PluginControl.Shutdown`, authenticated with the
 * launch secret when there is one. Errors are ignored: the caller escalates.
 * @private
 */
export async function requestShutdown(
  url: string,
  graceMs: number,
  secret: string | undefined,
  protocol?: HostProtocol,
): Promise<void> {
  const client = createClient(
    PluginControl,
    createHostTransport({ baseUrl: url, ...(protocol ? { protocol } : {}) }),
  );
  const headers = new Headers();
  if (secret) headers.set(AUTHORIZATION_HEADER, bearer(secret));
  await client
    .shutdown(
      { gracePeriodSeconds: Math.ceil(graceMs / 1000), reason: "stopped by the host" },
      { headers, timeoutMs: 2000 },
    )
    .catch(() => {});
}

/**
 * Manages a plugin that already runs somewhere (managed model): the host
 * assigns its identity with `SetRuntimeIdentity`; `stop()` asks it to shut
 * down and revokes the identity.
 */
export const remoteLauncher: Launcher = {
  async launch(spec, ctx) {
    if (spec.strategy.kind !== "remote") throw new Error("remote launcher needs a remote spec");
    const { url, launchSecret } = spec.strategy;
    const adopted = await ctx.host.adoptPlugin(url, {
      ...(launchSecret ? { launchSecret } : {}),
      healthyTimeoutMs: ctx.healthyTimeoutMs,
    });
    const running: RunningPlugin = {
      runtimeId: adopted.runtimeId,
      url,
      pid: undefined,
      exited: new Promise<PluginExit>(() => {}),
      async stop(graceMs) {
        await requestShutdown(url, graceMs, launchSecret);
        ctx.host.identities.revoke(adopted.runtimeId);
      },
    };
    return running;
  },
};
