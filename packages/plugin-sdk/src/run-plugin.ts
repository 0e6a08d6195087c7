import { createPlugin, type Plugin, type ShutdownRequest } from "./plugin.js";
import { PluginError } from "./plugin-error.js";
import type { PluginOptions } from "./plugin-options.js";

/**
 * Environment variable a launching host sets to `stdin` when the plugin must
 * exit once its standard input closes (the host died).
 */
export const PARENT_WATCH_ENV = "CPG_PARENT_WATCH";

/**
 * Options of {@link runPlugin}: the plugin's options plus where to listen.
 */
export interface RunPluginOptions extends PluginOptions {
  /** Port to listen on. Default: `PORT` from the environment, else 0 (a free port). */
  readonly port?: number;
  /** Address to bind. Default: `127.0.0.1`. */
  readonly listenHost?: string;
  /** Exit the process once stopped. Default: `true`. */
  readonly exitOnStop?: boolean;
}

/**
 * Runs a plugin as a process, following the connect-plugin-go conventions:
 * listens on `PORT`; with `HOST_URL` set it joins that host by itself
 * (unmanaged model), otherwise it waits for the host to hand over an identity
 * with `PluginIdentity.SetRuntimeIdentity` (managed model). It stops
 * gracefully on `PluginControl.Shutdown`, SIGTERM or SIGINT.
 *
 * @example
 * ```ts
 * import { provide, runPlugin } from "@cpg/plugin-sdk";
 *
 * await runPlugin({
 *   selfId: "kv-store",
 *   version: "1.0.0",
 *   services: [provide(KVService, impl)],
 * });
 * ```
 */
export async function runPlugin(options: RunPluginOptions): Promise<Plugin> {
  const plugin = createPlugin(options);
  const envPort = process.env.PORT;
  const port = options.port ?? (envPort ? Number(envPort) : 0);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new PluginError(
      "invalid_config",
      options.port !== undefined
        ? `port must be an integer from 0 to 65535, got ${options.port}`
        : `PORT must be an integer from 0 to 65535, got ${envPort}`,
    );
  }
  await plugin.listen({ port, host: options.listenHost ?? "127.0.0.1" });
  const hostUrl = options.hostUrl ?? process.env.HOST_URL;
  if (hostUrl) {
    try {
      await plugin.join(hostUrl);
    } catch (error) {
      // The caller gets no plugin to close: do not leave the server running.
      await plugin.close(0);
      throw error;
    }
  }

  const stop = async (request: ShutdownRequest) => {
    // Once stopped, signals get their default behaviour back.
    process.off("SIGTERM", onSignal);
    process.off("SIGINT", onSignal);
    await plugin.close(request.gracePeriodMs);
    if (options.exitOnStop ?? true) process.exit(0);
  };
  const onSignal = (signal: NodeJS.Signals) => {
    void stop({ gracePeriodMs: 5000, reason: signal });
  };
  process.once("SIGTERM", onSignal);
  process.once("SIGINT", onSignal);
  void plugin.shutdownRequested.then(stop);
  if (process.env[PARENT_WATCH_ENV] === "stdin") {
    // The launching host holds our stdin open: when it dies, stdin ends and
    // the plugin goes too, so no orphan outlives its host.
    process.stdin.on("end", () => void stop({ gracePeriodMs: 1000, reason: "host went away" }));
    process.stdin.on("error", () => void stop({ gracePeriodMs: 1000, reason: "host went away" }));
    process.stdin.resume();
  }
  return plugin;
}
