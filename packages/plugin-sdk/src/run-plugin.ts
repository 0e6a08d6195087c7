import { createPlugin, type Plugin, type ShutdownRequest } from "./plugin.js";
import { PluginError } from "./plugin-error.js";
import type { PluginOptions } from "./plugin-options.js";

/**
 * Environment variable a launching host sets to `stdin` when the plugin must
 * exit once its standard input closes (the host died).
 */
export const PARENT_WATCH_ENV = "CPG_PARENT_WATCH";

/**
 * Environment variable a launching host sets when it learns the plugin's port
 * from the plugin itself instead of trusting a port it picked in advance
 * (which another process could take in between):
 *
 * - `stdout`: listen on a port the OS picks (ignore `PORT`, which is there
 *   only for plugins that cannot announce) and announce it;
 * - `stdout-fixed`: listen on `PORT` (the operator fixed it) and announce it.
 *
 * The announcement is one line on stdout, written as soon as the plugin
 * listens: {@link PORT_ANNOUNCE_PREFIX}, a space, then `address:port`, e.g.
 * `CPG_PLUGIN_LISTENING 127.0.0.1:41234`. The host reads it from the plugin's
 * own stdout pipe and only the first such line counts. A plugin not written
 * with the SDK may implement the same, or be launched with
 * `portHandoff: "env"`.
 */
export const PORT_ANNOUNCE_ENV = "CPG_PORT_ANNOUNCE";

/**
 * First word of the line a plugin writes on stdout to announce where it
 * listens, when {@link PORT_ANNOUNCE_ENV} asks for it.
 */
export const PORT_ANNOUNCE_PREFIX = "CPG_PLUGIN_LISTENING";

/**
 * Options of {@link runPlugin}: the plugin's options plus where to listen.
 */
export interface RunPluginOptions extends PluginOptions {
  /**
   * Port to listen on. Default: 0 (a free port) when the launcher sets
   * `CPG_PORT_ANNOUNCE=stdout`, else `PORT` from the environment, else 0.
   */
  readonly port?: number;
  /** Address to bind. Default: `127.0.0.1`. */
  readonly listenHost?: string;
  /** Exit the process once stopped. Default: `true`. */
  readonly exitOnStop?: boolean;
}

/**
 * Runs a plugin as a process, following the connect-plugin-go conventions:
 * listens on `PORT`; with `HOST_URL` set it joins that host by itself
 * (unmanaged model; several comma-separated URLs are the replicas of one
 * host, see `hostUrl`), otherwise it waits for the host to hand over an identity
 * with `PluginIdentity.SetRuntimeIdentity` (managed model). It stops
 * gracefully on `PluginControl.Shutdown`, SIGTERM or SIGINT.
 *
 * Launched by a cpg host, it follows {@link PORT_ANNOUNCE_ENV}: it listens on
 * a port the OS picks and tells the host on stdout, so no other process can
 * take the port between the host's choice and the plugin's bind.
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
  const announce = process.env[PORT_ANNOUNCE_ENV] ?? "";
  if (announce !== "" && announce !== "stdout" && announce !== "stdout-fixed") {
    throw new PluginError(
      "invalid_config",
      `${PORT_ANNOUNCE_ENV} must be "stdout" or "stdout-fixed", got ${JSON.stringify(announce)}`,
    );
  }
  // A one-shot contract with our launcher: child processes of the plugin
  // (which may share our stdout) must not inherit it and announce too.
  delete process.env[PORT_ANNOUNCE_ENV];
  const envPort = process.env.PORT;
  const port = options.port ?? (announce === "stdout" ? 0 : envPort ? Number(envPort) : 0);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new PluginError(
      "invalid_config",
      options.port !== undefined
        ? `port must be an integer from 0 to 65535, got ${options.port}`
        : `PORT must be an integer from 0 to 65535, got ${envPort}`,
    );
  }
  const listening = await plugin.listen({ port, host: options.listenHost ?? "127.0.0.1" });
  if (announce !== "") {
    // `hostname` keeps IPv6 brackets; `host` would drop port 80 or 443.
    const address = `${new URL(listening.url).hostname}:${listening.port}`;
    process.stdout.write(`${PORT_ANNOUNCE_PREFIX} ${address}\n`);
  }
  // hostUrl, else HOST_URL (one URL, or the replicas of a replicated host).
  if (plugin.hostUrls.length > 0) {
    try {
      await plugin.join();
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
