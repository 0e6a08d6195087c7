import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { generateToken } from "@cpg/auth";
import { PARENT_WATCH_ENV } from "@cpg/plugin-sdk";
import { PluginControl } from "@cpg/protocol";
import { HostError } from "../host-error.js";
import { validateBinaryPath } from "./binary-path.js";
import { freePort } from "./free-port.js";
import type { Launcher, PluginExit, RunningPlugin } from "./launcher.js";
import { requestShutdown } from "./remote-launcher.js";

const exitOf = (child: ChildProcess) =>
  new Promise<PluginExit>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      resolve({ code: child.exitCode, signal: child.signalCode });
    } else {
      child.once("exit", (code, signal) => resolve({ code, signal }));
    }
  });

const within = <T>(promise: Promise<T>, ms: number) =>
  new Promise<T | undefined>((resolve) => {
    const timer = setTimeout(() => resolve(undefined), ms);
    void promise.then((value) => {
      clearTimeout(timer);
      resolve(value);
    });
  });

// Signals the whole process group, so the plugin's own children go too.
function killGroup(child: ChildProcess, signal: NodeJS.Signals) {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    child.kill(signal);
  }
}

function nodePermissionArgs(allowRead: readonly string[]): string[] {
  const flag = process.allowedNodeEnvironmentFlags.has("--permission")
    ? "--permission"
    : "--experimental-permission";
  return [flag, ...allowRead.map((path) => `--allow-fs-read=${path}`)];
}

/**
 * Starts a plugin as a child process in its own process group:
 * - the binary path is checked first (absolute, existing, executable,
 *   optionally inside allowed directories); nothing runs otherwise;
 * - `PORT` is a free port (unless the spec fixes one); `HOST_URL` is not set,
 *   so an SDK plugin waits for the host to hand over its identity;
 *   `CPG_LAUNCH_SECRET` authorizes the host's control calls;
 *   `CPG_PARENT_WATCH=stdin` makes an SDK plugin exit when its stdin (held by
 *   the host) closes, i.e. when the host dies;
 * - stdout and stderr are forwarded as log lines tagged with the plugin;
 * - ready once `PluginControl.GetHealth` answers (retried until `readyTimeoutMs`),
 *   then managed: `GetPluginInfo`, `SetRuntimeIdentity`, HEALTHY;
 * - `stop()`: `PluginControl.Shutdown` with the grace period, then SIGTERM,
 *   then SIGKILL to the whole process group.
 */
export const processLauncher: Launcher = {
  async launch(spec, ctx) {
    if (spec.strategy.kind !== "process") throw new Error("process launcher needs a process spec");
    const strategy = spec.strategy;
    const command = await validateBinaryPath(strategy.command, ctx.allowedBinaryDirs);
    const port = strategy.port && strategy.port > 0 ? strategy.port : await freePort();
    const secret = generateToken();
    const args = [
      ...(strategy.nodePermissions ? nodePermissionArgs(strategy.nodePermissions.allowRead) : []),
      ...(strategy.args ?? []),
    ];
    const child = spawn(command, args, {
      cwd: strategy.cwd,
      env: {
        ...process.env,
        ...strategy.env,
        PORT: String(port),
        CPG_LAUNCH_SECRET: secret,
        [PARENT_WATCH_ENV]: "stdin",
        HOST_URL: "",
      },
      stdio: ["pipe", "pipe", "pipe"],
      detached: true,
    });
    const exited = exitOf(child);
    child.on("error", (error) =>
      ctx.logger.error("plugin process error", { plugin: spec.name, error }),
    );
    for (const [stream, source] of [
      ["stdout", child.stdout],
      ["stderr", child.stderr],
    ] as const) {
      createInterface({ input: source! }).on("line", (line) =>
        ctx.logger.info("plugin output", { plugin: spec.name, stream, line }),
      );
    }
    const url = `http://127.0.0.1:${port}`;
    const stop = async (graceMs: number) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      await requestShutdown(url, graceMs, secret);
      if ((await within(exited, graceMs)) !== undefined) return;
      killGroup(child, "SIGTERM");
      if ((await within(exited, graceMs)) !== undefined) return;
      killGroup(child, "SIGKILL");
      await exited;
    };
    try {
      await waitUntilServing(url, ctx.readyTimeoutMs, exited);
      const adopted = await ctx.host.adoptPlugin(url, {
        launchSecret: secret,
        healthyTimeoutMs: ctx.healthyTimeoutMs,
      });
      const running: RunningPlugin = {
        runtimeId: adopted.runtimeId,
        url,
        pid: child.pid,
        exited,
        stop,
      };
      return running;
    } catch (error) {
      killGroup(child, "SIGKILL");
      await exited;
      throw error;
    }
  },
};

async function waitUntilServing(url: string, timeoutMs: number, exited: Promise<PluginExit>) {
  // Every plugin serves PluginControl (the wire contract): any answer to
  // GetHealth means it is up. The host then waits for it to report HEALTHY.
  const client = createClient(
    PluginControl,
    createConnectTransport({ baseUrl: url, httpVersion: "1.1", useBinaryFormat: true }),
  );
  let gone: PluginExit | undefined;
  void exited.then((exit) => {
    gone = exit;
  });
  const deadline = performance.now() + timeoutMs;
  let delay = 25;
  while (performance.now() < deadline) {
    if (gone) {
      throw new HostError(
        "launch_failed",
        `plugin process exited before it was ready (code ${gone.code}, signal ${gone.signal})`,
      );
    }
    const ok = await client.getHealth({}, { timeoutMs: 1000 }).then(
      () => true,
      () => false,
    );
    if (ok) return;
    await new Promise((resolve) => setTimeout(resolve, delay));
    delay = Math.min(delay * 2, 250);
  }
  throw new HostError(
    "launch_failed",
    `plugin did not answer PluginControl.GetHealth within ${timeoutMs} ms`,
  );
}
