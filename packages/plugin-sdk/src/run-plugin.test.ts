import { existsSync } from "node:fs";
import * as net from "node:net";
import { fileURLToPath } from "node:url";
import { Code, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { bearer, HealthState, Logger, PluginControl, PluginIdentity } from "@cpg/protocol";
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { silentLogger } from "./logging/logger.js";
import type { Plugin } from "./plugin.js";
import { isPluginError, type PluginError } from "./plugin-error.js";
import {
  PARENT_WATCH_ENV,
  PORT_ANNOUNCE_ENV,
  PORT_ANNOUNCE_PREFIX,
  type RunPluginOptions,
  runPlugin,
} from "./run-plugin.js";
import { type NodeProcess, startNode } from "./test-support/child-process.js";
import { type FakeHost, startFakeHost } from "./test-support/fake-host.js";

// A port that was free a moment ago, for PORT.
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(false);
    });
    socket.once("error", () => resolve(true));
  });
}

const connect = (url: string) =>
  createConnectTransport({ baseUrl: url, httpVersion: "1.1", useBinaryFormat: true });

describe("runPlugin in process", () => {
  const plugins: Plugin[] = [];
  const hosts: FakeHost[] = [];
  let signalListeners: Record<"SIGTERM" | "SIGINT", Function[]>;
  beforeEach(() => {
    vi.stubEnv("HOST_URL", "");
    vi.stubEnv("PORT", "");
    vi.stubEnv("CPG_LAUNCH_SECRET", "");
    vi.stubEnv(PORT_ANNOUNCE_ENV, "");
    signalListeners = {
      SIGTERM: process.listeners("SIGTERM"),
      SIGINT: process.listeners("SIGINT"),
    };
  });
  afterEach(async () => {
    vi.unstubAllEnvs();
    await Promise.all(plugins.splice(0).map((p) => p.close(100)));
    await Promise.all(hosts.splice(0).map((h) => h.close()));
    // Plugins closed directly (not through a signal or Shutdown) keep their handlers.
    for (const signal of ["SIGTERM", "SIGINT"] as const) {
      for (const listener of process.listeners(signal)) {
        if (!signalListeners[signal].includes(listener)) {
          process.off(signal, listener as NodeJS.SignalsListener);
        }
      }
    }
  });

  async function run(options: Partial<RunPluginOptions> = {}) {
    const plugin = await runPlugin({
      selfId: "kv-store",
      version: "1.0.0",
      logger: silentLogger,
      exitOnStop: false,
      ...options,
    });
    plugins.push(plugin);
    return plugin;
  }

  it("listens on PORT and, without HOST_URL, waits for the host to hand over an identity", async () => {
    const port = await freePort();
    vi.stubEnv("PORT", String(port));
    const plugin = await run();
    expect(plugin.url).toBe(`http://127.0.0.1:${port}`);
    expect(plugin.credentials).toBeUndefined();
    await createClient(PluginIdentity, connect(plugin.url!)).setRuntimeIdentity({
      runtimeId: "kv-store-1",
      runtimeToken: "token-1",
      hostUrl: "http://127.0.0.1:1",
    });
    expect(plugin.credentials?.runtimeId).toBe("kv-store-1");
  });

  it("listens on a free port without PORT, and on options.port over PORT", async () => {
    expect((await run()).url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const port = await freePort();
    vi.stubEnv("PORT", "1");
    expect((await run({ port })).url).toBe(`http://127.0.0.1:${port}`);
  });

  // What runPlugin writes on stdout while `action` runs (the writes are swallowed).
  async function stdoutOf(action: () => Promise<unknown>) {
    const write = vi.spyOn(process.stdout, "write").mockImplementation(() => true);
    try {
      await action();
      return write.mock.calls.map(([chunk]) => String(chunk));
    } finally {
      write.mockRestore();
    }
  }
  const announcements = (writes: string[]) =>
    writes.filter((w) => w.startsWith(`${PORT_ANNOUNCE_PREFIX} `));

  it(`with ${PORT_ANNOUNCE_ENV}=stdout, listens on a port the OS picks (not PORT) and announces it in one line`, async () => {
    const port = await freePort();
    vi.stubEnv("PORT", String(port));
    vi.stubEnv(PORT_ANNOUNCE_ENV, "stdout");
    let plugin: Plugin | undefined;
    const writes = await stdoutOf(async () => {
      plugin = await run();
    });
    const bound = Number(new URL(plugin!.url!).port);
    expect(bound).not.toBe(port);
    expect(announcements(writes)).toEqual([`CPG_PLUGIN_LISTENING 127.0.0.1:${bound}\n`]);
    // Consumed: the plugin's own child processes do not inherit it.
    expect(process.env[PORT_ANNOUNCE_ENV]).toBeUndefined();
  });

  it(`with ${PORT_ANNOUNCE_ENV}=stdout-fixed, listens on PORT and announces it; without it, announces nothing`, async () => {
    const port = await freePort();
    vi.stubEnv("PORT", String(port));
    vi.stubEnv(PORT_ANNOUNCE_ENV, "stdout-fixed");
    const fixed = await stdoutOf(() => run());
    expect(announcements(fixed)).toEqual([`CPG_PLUGIN_LISTENING 127.0.0.1:${port}\n`]);
    expect(plugins[0]!.url).toBe(`http://127.0.0.1:${port}`);
    vi.stubEnv("PORT", "0");
    vi.stubEnv(PORT_ANNOUNCE_ENV, "");
    expect(announcements(await stdoutOf(() => run()))).toEqual([]);
  });

  it(`refuses an unknown ${PORT_ANNOUNCE_ENV} with invalid_config`, async () => {
    vi.stubEnv(PORT_ANNOUNCE_ENV, "fd:3");
    const error = await run().catch((e: unknown) => e);
    expect(isPluginError(error) && [error.code, error.message]).toEqual([
      "invalid_config",
      'CPG_PORT_ANNOUNCE must be "stdout" or "stdout-fixed", got "fd:3"',
    ]);
  });

  it("with HOST_URL, joins that host before returning", async () => {
    const host = await startFakeHost();
    hosts.push(host);
    vi.stubEnv("HOST_URL", host.url);
    const plugin = await run();
    expect(plugin.credentials).toMatchObject({ runtimeId: "kv-store-1", hostUrl: host.url });
    expect(host.handshakes).toHaveLength(1);
  });

  it("with several comma-separated URLs in HOST_URL, joins the first replica that answers", async () => {
    const host = await startFakeHost();
    hosts.push(host);
    const dead = `http://127.0.0.1:${await freePort()}`;
    vi.stubEnv("HOST_URL", `${dead}, ${host.url}/`);
    const plugin = await run();
    expect(plugin.hostUrls).toEqual([dead, host.url]);
    expect(plugin.credentials).toMatchObject({ runtimeId: "kv-store-1", hostUrl: host.url });
  });

  it("does not join with hostUrl: [] (no host), even when HOST_URL is set", async () => {
    const host = await startFakeHost();
    hosts.push(host);
    vi.stubEnv("HOST_URL", host.url);
    const plugin = await run({ hostUrl: [] });
    expect([plugin.credentials, plugin.hostUrls]).toEqual([undefined, []]);
    expect(host.handshakes).toEqual([]);
  });

  it("closes its server when it cannot join HOST_URL", async () => {
    const port = await freePort();
    vi.stubEnv("PORT", String(port));
    vi.stubEnv("HOST_URL", "http://127.0.0.1:1");
    let error: PluginError | undefined;
    try {
      await run();
    } catch (e) {
      if (!isPluginError(e)) throw e;
      error = e;
    }
    expect(error?.code).toBe("join_failed");
    expect(await refused(port)).toBe(true);
  });

  it.each([
    [{ env: "http" }, "PORT must be an integer from 0 to 65535, got http"],
    [{ env: "70000" }, "PORT must be an integer from 0 to 65535, got 70000"],
    [{ option: -1 }, "port must be an integer from 0 to 65535, got -1"],
    [{ option: 1.5 }, "port must be an integer from 0 to 65535, got 1.5"],
  ])("refuses port %j with invalid_config", async (given, message) => {
    if ("env" in given) vi.stubEnv("PORT", given.env);
    let error: PluginError | undefined;
    try {
      await run("option" in given ? { port: given.option } : {});
    } catch (e) {
      if (!isPluginError(e)) throw e;
      error = e;
    }
    expect([error?.code, error?.message]).toEqual(["invalid_config", message]);
  });

  it("stops on PluginControl.Shutdown and, with exitOnStop false, leaves the process running", async () => {
    const plugin = await run();
    const port = Number(new URL(plugin.url!).port);
    const sigtermBefore = process.listenerCount("SIGTERM");
    const res = await createClient(PluginControl, connect(plugin.url!)).shutdown({
      gracePeriodSeconds: 2,
      reason: "replaced",
    });
    expect(res.acknowledged).toBe(true);
    expect(await plugin.shutdownRequested).toEqual({ gracePeriodMs: 2000, reason: "replaced" });
    // close() returns the stop already under way.
    await plugin.close();
    expect(await refused(port)).toBe(true);
    // Its signal handlers are gone: SIGTERM has its default meaning again.
    expect(process.listenerCount("SIGTERM")).toBe(sigtermBefore - 1);
  });
});

describe("runPlugin as a process (built package)", () => {
  const fixture = fileURLToPath(new URL("./test-fixtures/signal-plugin.mjs", import.meta.url));
  const started: NodeProcess[] = [];
  const hosts: FakeHost[] = [];
  beforeAll(() => {
    const dist = fileURLToPath(new URL("../dist/index.js", import.meta.url));
    if (!existsSync(dist)) {
      throw new Error("build the package first: pnpm --filter @cpg/plugin-sdk run build");
    }
  });
  afterEach(async () => {
    for (const p of started.splice(0)) p.kill();
    await Promise.all(hosts.splice(0).map((h) => h.close()));
  });

  function start(env: Record<string, string>, options: { stdin?: "pipe" } = {}) {
    const p = startNode(fixture, env, options);
    started.push(p);
    return p;
  }

  it.each(["SIGTERM", "SIGINT"] as const)(
    "on %s, finishes the call in flight and exits 0",
    async (signal) => {
      const port = await freePort();
      const p = start({ PORT: String(port) });
      const listening = await p.event("listening");
      expect(listening).toEqual({
        event: "listening",
        url: `http://127.0.0.1:${port}`,
        runtimeId: null,
      });
      const logger = createClient(Logger, connect(listening.url as string));
      const held = logger.log({ level: "info", message: "hold" });
      await p.event("holding");
      p.child.kill(signal);
      await expect(held).resolves.toBeDefined();
      expect(await p.exited).toBe(0);
      expect(p.events.map((e) => e.event)).toEqual(["listening", "holding", "signal"]);
    },
  );

  it("on PluginControl.Shutdown, exits 0", async () => {
    const p = start({ PORT: "0" });
    const { url } = await p.event("listening");
    const control = createClient(PluginControl, connect(url as string));
    expect((await control.shutdown({ gracePeriodSeconds: 1, reason: "bye" })).acknowledged).toBe(
      true,
    );
    expect(await p.event("shutdown")).toEqual({
      event: "shutdown",
      gracePeriodMs: 1000,
      reason: "bye",
    });
    expect(await p.exited).toBe(0);
  });

  it("with CPG_LAUNCH_SECRET, Shutdown needs the secret", async () => {
    const p = start({ PORT: "0", CPG_LAUNCH_SECRET: "launch-s3cret" });
    const { url } = await p.event("listening");
    const control = createClient(PluginControl, connect(url as string));
    await expect(control.shutdown({})).rejects.toMatchObject({ code: Code.Unauthenticated });
    await control.shutdown({}, { headers: { authorization: bearer("launch-s3cret") } });
    expect(await p.exited).toBe(0);
  });

  it("with HOST_URL, joins the host by itself", async () => {
    const host = await startFakeHost();
    hosts.push(host);
    const p = start({ PORT: "0", HOST_URL: host.url });
    expect((await p.event("listening")).runtimeId).toBe("signal-plugin-1");
    await host.nextReport(0);
    p.child.kill("SIGTERM");
    expect(await p.exited).toBe(0);
  });

  it(`with ${PARENT_WATCH_ENV}=stdin, exits 0 once its launcher closes stdin`, async () => {
    const p = start({ PORT: "0", [PARENT_WATCH_ENV]: "stdin" }, { stdin: "pipe" });
    await p.event("listening");
    p.child.stdin!.end();
    expect(await p.exited).toBe(0);
  });

  it("ignores stdin without the parent watch", async () => {
    const p = start({ PORT: "0" }, { stdin: "pipe" });
    const { url } = await p.event("listening");
    p.child.stdin!.end();
    // Still serving: a Shutdown is what stops it.
    const control = createClient(PluginControl, connect(url as string));
    expect((await control.getHealth({})).state).toBe(HealthState.HEALTHY);
    await control.shutdown({ reason: "done" });
    expect(await p.exited).toBe(0);
  });

  it(`with ${PORT_ANNOUNCE_ENV}=stdout, announces its port on stdout exactly once, as soon as it listens`, async () => {
    const port = await freePort();
    const p = start({ PORT: String(port), [PORT_ANNOUNCE_ENV]: "stdout" });
    const url = (await p.event("listening")).url as string;
    const bound = Number(new URL(url).port);
    expect(bound).not.toBe(port);
    // Before runPlugin returned (the fixture's "listening" event), and only once.
    expect(p.lines.filter((l) => l.startsWith(PORT_ANNOUNCE_PREFIX))).toEqual([
      `CPG_PLUGIN_LISTENING 127.0.0.1:${bound}`,
    ]);
    expect(p.lines.indexOf(`CPG_PLUGIN_LISTENING 127.0.0.1:${bound}`)).toBeLessThan(
      p.lines.findIndex((l) => l.includes('"listening"')),
    );
    expect(await refused(port)).toBe(true);
    p.child.kill("SIGTERM");
    expect(await p.exited).toBe(0);
  });

  it("exits non-zero, with the reason on stderr, when it cannot join HOST_URL", async () => {
    const p = start({ PORT: "0", HOST_URL: "http://127.0.0.1:1" });
    expect(await p.exited).toBe(1);
    expect(p.stderr.join("\n")).toContain("handshake with http://127.0.0.1:1 failed");
  });
});
