import { type ChildProcess, spawn } from "node:child_process";
import { createInterface, type Interface } from "node:readline";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { generateToken } from "@cpg/auth";
import { PARENT_WATCH_ENV, PORT_ANNOUNCE_ENV, PORT_ANNOUNCE_PREFIX } from "@cpg/plugin-sdk";
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
 * - where the plugin listens depends on the strategy's `portHandoff`: by
 *   default (`"announce"`, with `CPG_PORT_ANNOUNCE` set) the host believes
 *   only the first `CPG_PLUGIN_LISTENING 127.0.0.1:<port>` line on the
 *   child's own stdout pipe and never connects to `PORT`; with `"env"` it
 *   connects to `PORT` (for plugins that only read `PORT`, e.g. Go plugins);
 * - stdout and stderr are forwarded as log lines tagged with the plugin;
 * - ready once `PluginControl.GetHealth` answers (both steps within
 *   `readyTimeoutMs`), then managed: `GetPluginInfo`, `SetRuntimeIdentity`,
 *   HEALTHY;
 * - `stop()`: `PluginControl.Shutdown` with the grace period, then SIGTERM,
 *   then SIGKILL to the whole process group.
 */
export const processLauncher: Launcher = {
  async launch(spec, ctx) {
    if (spec.strategy.kind !== "process") throw new Error("process launcher needs a process spec");
    const strategy = spec.strategy;
    const handoff = strategy.portHandoff ?? "announce";
    if (handoff !== "announce" && handoff !== "env") {
      throw new HostError(
        "invalid_config",
        `portHandoff must be "announce" or "env", got ${JSON.stringify(handoff)}`,
      );
    }
    const command = await validateBinaryPath(strategy.command, ctx.allowedBinaryDirs);
    const fixedPort = strategy.port && strategy.port > 0 ? strategy.port : undefined;
    // With "announce", PORT is only for plugins that cannot announce (they
    // then fail the launch with a message naming portHandoff): the host
    // never connects to it.
    const port = fixedPort ?? (await freePort());
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
        // Set to "" in "env" mode: a value inherited from our own launcher
        // would make an SDK plugin listen elsewhere than PORT.
        [PORT_ANNOUNCE_ENV]: handoff === "env" ? "" : fixedPort ? "stdout-fixed" : "stdout",
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
    const stdout = createInterface({ input: child.stdout! });
    for (const [stream, lines] of [
      ["stdout", stdout],
      ["stderr", createInterface({ input: child.stderr! })],
    ] as const) {
      lines.on("line", (line) =>
        ctx.logger.info("plugin output", { plugin: spec.name, stream, line }),
      );
    }
    // Listened for before any await, so that no line passes unseen.
    const announced = handoff === "announce" ? firstAnnouncement(stdout) : undefined;
    let url = `http://127.0.0.1:${port}`;
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
      const deadline = performance.now() + ctx.readyTimeoutMs;
      if (announced) {
        const line = await untilReady(announced, deadline, exited);
        if (line === undefined) {
          throw new HostError(
            "launch_failed",
            `plugin did not announce its port within ${ctx.readyTimeoutMs} ms (a ` +
              `"${PORT_ANNOUNCE_PREFIX} 127.0.0.1:<port>" line on stdout, as @cpg/plugin-sdk's ` +
              `runPlugin writes it); for a plugin that only reads PORT (e.g. a Go plugin), ` +
              `set portHandoff: "env" in its process strategy`,
          );
        }
        url = `http://127.0.0.1:${announcedPort(line, fixedPort)}`;
      }
      await waitUntilServing(url, deadline, ctx.readyTimeoutMs, exited);
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

// The first line of the child's stdout that starts with the announcement
// word. Only the first one counts: a later line cannot redirect the host.
function firstAnnouncement(stdout: Interface): Promise<string> {
  return new Promise((resolve) => {
    const onLine = (line: string) => {
      if (line === PORT_ANNOUNCE_PREFIX || line.startsWith(`${PORT_ANNOUNCE_PREFIX} `)) {
        stdout.off("line", onLine);
        resolve(line);
      }
    };
    stdout.on("line", onLine);
  });
}

// The announced port, if the line names 127.0.0.1 (where the host connects:
// a wildcard or another address could be shared with, or be, someone else)
// and, when the spec fixes the port, that port.
function announcedPort(line: string, fixedPort: number | undefined): number {
  const quoted = JSON.stringify(line.length > 200 ? `${line.slice(0, 200)}…` : line);
  const match = /^127\.0\.0\.1:([1-9][0-9]{0,4})$/.exec(
    line.slice(PORT_ANNOUNCE_PREFIX.length + 1),
  );
  const port = match ? Number(match[1]) : 0;
  if (port < 1 || port > 65535) {
    throw new HostError(
      "launch_failed",
      `plugin announced ${quoted}; expected "${PORT_ANNOUNCE_PREFIX} 127.0.0.1:<port>" ` +
        `(the process launcher reaches plugins on 127.0.0.1 only)`,
    );
  }
  if (fixedPort !== undefined && port !== fixedPort) {
    throw new HostError(
      "launch_failed",
      `plugin announced port ${port}, but its spec fixes port ${fixedPort}`,
    );
  }
  return port;
}

// Resolves with `promise`, or with undefined at the deadline; fails with
// launch_failed when the process exits first.
async function untilReady<T>(
  promise: Promise<T>,
  deadline: number,
  exited: Promise<PluginExit>,
): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    promise.then((value) => ({ value })),
    exited.then((exit) => ({ exit })),
    new Promise<{ value: undefined }>((resolve) => {
      timer = setTimeout(
        () => resolve({ value: undefined }),
        Math.max(0, deadline - performance.now()),
      );
    }),
  ]).finally(() => clearTimeout(timer));
  if ("exit" in outcome) throw exitedEarly(outcome.exit);
  return outcome.value;
}

const exitedEarly = (exit: PluginExit) =>
  new HostError(
    "launch_failed",
    `plugin process exited before it was ready (code ${exit.code}, signal ${exit.signal})`,
  );

async function waitUntilServing(
  url: string,
  deadline: number,
  timeoutMs: number,
  exited: Promise<PluginExit>,
) {
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
  let delay = 25;
  // At least one try, even when announcing used up the time.
  do {
    if (gone) throw exitedEarly(gone);
    const ok = await client.getHealth({}, { timeoutMs: 1000 }).then(
      () => true,
      () => false,
    );
    if (ok) return;
    await new Promise((resolve) => setTimeout(resolve, delay));
    delay = Math.min(delay * 2, 250);
  } while (performance.now() < deadline);
  throw new HostError(
    "launch_failed",
    `plugin did not answer PluginControl.GetHealth within ${timeoutMs} ms`,
  );
}
