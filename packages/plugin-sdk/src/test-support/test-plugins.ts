// Helpers shared by the SDK's tests. Not part of the package: tsup builds
// only src/index.ts and src/internal.ts.
import * as http from "node:http";
import { ConnectError } from "@connectrpc/connect";
import { bearer } from "@cpg/protocol";
import { listenOnFreePort } from "@cpg/test-utils";
import { afterEach } from "vitest";
import { type Logger, silentLogger } from "../logging/logger.js";
import { createPlugin, type Plugin } from "../plugin.js";
import type { PluginOptions } from "../plugin-options.js";

/** The error a promise rejects with, as a ConnectError; undefined if it resolves. */
export const errorOf = (promise: Promise<unknown>): Promise<ConnectError | undefined> =>
  promise.then(
    () => undefined,
    (e: unknown) => ConnectError.from(e),
  );

/** Call options that present `token` as a bearer token. */
export const auth = (token: string) => ({ headers: { authorization: bearer(token) } });

/**
 * A factory of plugins with test defaults (`kv-store` 1.0.0, silent logger);
 * every plugin it made is closed after each test.
 */
export function usePlugins(): (options?: Partial<PluginOptions>) => Plugin {
  const plugins: Plugin[] = [];
  afterEach(async () => {
    await Promise.all(plugins.splice(0).map((p) => p.close(100)));
  });
  return (options = {}) => {
    const plugin = createPlugin({
      selfId: "kv-store",
      version: "1.0.0",
      logger: silentLogger,
      ...options,
    });
    plugins.push(plugin);
    return plugin;
  };
}

/** A log line as {@link recordingLogger} kept it. */
export interface LoggedLine {
  readonly level: "debug" | "info" | "warn" | "error";
  readonly message: string;
  readonly fields: Readonly<Record<string, unknown>> | undefined;
}

/** A logger that keeps every line in `lines`, for tests that check what was logged. */
export function recordingLogger(): { logger: Logger; lines: LoggedLine[] } {
  const lines: LoggedLine[] = [];
  const at =
    (level: LoggedLine["level"]) =>
    (message: string, fields?: Readonly<Record<string, unknown>>) => {
      lines.push({ level, message, fields });
    };
  return {
    logger: { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") },
    lines,
  };
}

/** The URL of a server that was closed: connections to it are refused. */
export async function closedServerUrl(): Promise<string> {
  const server = await listenOnFreePort(http.createServer());
  await server.close();
  return server.url;
}
