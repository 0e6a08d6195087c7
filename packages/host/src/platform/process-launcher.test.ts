import * as net from "node:net";
import { fileURLToPath } from "node:url";
import { EchoService } from "@cpg/examples-proto";
import { createPlugin, type Logger, type Plugin, silentLogger } from "@cpg/plugin-sdk";
import { waitFor } from "@cpg/test-utils";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { Host } from "../host.js";
import { isHostError } from "../host-error.js";
import type { HostOptions } from "../host-options.js";
import { testHost } from "../test-support/test-host.js";
import { freePort } from "./free-port.js";
import type { ManagedPluginSpec } from "./managed-plugin-spec.js";

// The launcher's free port can be replaced by one another process already
// holds: the race of audit finding M-3, made certain.
vi.mock("./free-port.js", async (importOriginal) => {
  const actual = await importOriginal<typeof import("./free-port.js")>();
  return { freePort: vi.fn(actual.freePort) };
});

// A real @cpg/plugin-sdk plugin (runPlugin) providing the echo service.
const sdkPlugin = fileURLToPath(
  new URL("../integration/fixtures/platform-plugin.mjs", import.meta.url),
);
// A plugin that reads PORT and nothing else, as a connect-plugin-go plugin.
const portOnlyPlugin = fileURLToPath(new URL("./fixtures/port-only-plugin.mjs", import.meta.url));

type ProcessStrategy = Extract<ManagedPluginSpec["strategy"], { kind: "process" }>;

const spec = (
  name: string,
  script: string,
  extra: Partial<Omit<ProcessStrategy, "kind" | "command">> = {},
): ManagedPluginSpec => ({
  name,
  strategy: {
    kind: "process",
    command: process.execPath,
    args: [script],
    ...extra,
    env: { PLUGIN_SELF_ID: name, PLUGIN_TYPE: name, ...extra.env },
  },
});

// A local process squatting on a port: it records every connection.
interface Squatter {
  readonly port: number;
  readonly connections: number;
  close(): Promise<void>;
}

async function squat(): Promise<Squatter> {
  const sockets = new Set<net.Socket>();
  let connections = 0;
  const server = net.createServer((socket) => {
    connections++;
    sockets.add(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    get connections() {
      return connections;
    },
    close() {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

let host: Host | undefined;
const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  vi.unstubAllEnvs();
  vi.mocked(freePort).mockClear();
  await host?.close();
  host = undefined;
  for (const close of closers.splice(0)) await close();
});

// A listening host whose logger keeps the plugins' stdout lines that are JSON.
async function recordingHost(options: HostOptions = {}) {
  const events: Array<Record<string, unknown>> = [];
  const record = (_: string, fields?: Record<string, unknown>) => {
    if (fields?.stream === "stdout" && typeof fields.line === "string") {
      if (fields.line.startsWith("{")) events.push(JSON.parse(fields.line));
    }
  };
  const logger: Logger = { debug: record, info: record, warn: record, error: record };
  host = testHost({ logger, ...options });
  const { url } = await host.listen();
  return { url, events };
}

async function launchError(added: Promise<unknown>) {
  const error = await added.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!isHostError(error)) throw new Error(`expected a HostError, got ${String(error)}`);
  return { code: error.code, message: error.message };
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('process launcher, portHandoff "announce" (the default)', () => {
  it("reaches the SDK plugin it started, never a process squatting on the PORT it handed over", async () => {
    const squatter = await squat();
    closers.push(() => squatter.close());
    vi.mocked(freePort).mockResolvedValueOnce(squatter.port);
    const { url } = await recordingHost();

    await host!.platform.add(spec("echo", sdkPlugin));

    expect(freePort).toHaveBeenCalledTimes(1);
    const status = host!.platform.get("echo")!;
    expect(status.state).toBe("running");
    expect(status.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(status.url).not.toBe(`http://127.0.0.1:${squatter.port}`);
    const caller: Plugin = createPlugin({
      selfId: "caller",
      version: "1.0.0",
      logger: silentLogger,
    });
    closers.push(() => caller.close(100));
    await caller.join(url);
    expect((await caller.client(EchoService).echo({ message: "hi" })).message).toBe("echo:hi");
    // Not one connection: no launch secret, no identity, not even GetHealth.
    expect(squatter.connections).toBe(0);
  });

  it('fails a plugin that does not announce, naming portHandoff: "env", kills it and never calls it', async () => {
    const { events } = await recordingHost({ platform: { readyTimeoutMs: 3000 } });

    const error = await launchError(host!.platform.add(spec("go-like", portOnlyPlugin)));

    expect(error).toEqual({
      code: "launch_failed",
      message:
        'plugin did not announce its port within 3000 ms (a "CPG_PLUGIN_LISTENING 127.0.0.1:<port>" ' +
        "line on stdout, as @cpg/plugin-sdk's runPlugin writes it); for a plugin that only reads " +
        'PORT (e.g. a Go plugin), set portHandoff: "env" in its process strategy',
    });
    const listening = events.find((e) => e.event === "listening");
    expect(listening).toMatchObject({ announceEnv: "stdout" });
    expect(alive(listening!.pid as number)).toBe(false);
    expect(events.filter((e) => e.event === "request")).toEqual([]);
  });

  it("refuses an announcement of another address, or of another port than the spec fixes", async () => {
    const squatter = await squat();
    closers.push(() => squatter.close());
    await recordingHost();
    const fixed = await freePort();

    const elsewhere = await launchError(
      host!.platform.add(
        spec("elsewhere", portOnlyPlugin, {
          env: { FIXTURE_FIRST_LINE: "CPG_PLUGIN_LISTENING 0.0.0.0:8080" },
        }),
      ),
    );
    const otherPort = await launchError(
      host!.platform.add(
        spec("other-port", portOnlyPlugin, {
          port: fixed,
          env: { FIXTURE_FIRST_LINE: `CPG_PLUGIN_LISTENING 127.0.0.1:${squatter.port}` },
        }),
      ),
    );

    expect(elsewhere).toEqual({
      code: "launch_failed",
      message:
        'plugin announced "CPG_PLUGIN_LISTENING 0.0.0.0:8080"; expected ' +
        '"CPG_PLUGIN_LISTENING 127.0.0.1:<port>" (the process launcher reaches plugins on ' +
        "127.0.0.1 only)",
    });
    expect(otherPort).toEqual({
      code: "launch_failed",
      message: `plugin announced port ${squatter.port}, but its spec fixes port ${fixed}`,
    });
    expect(squatter.connections).toBe(0);
  });

  it("refuses an unknown portHandoff before anything runs", async () => {
    await recordingHost();
    const error = await launchError(
      host!.platform.add(spec("bad", portOnlyPlugin, { portHandoff: "auto" as "env" })),
    );
    expect(error).toEqual({
      code: "invalid_config",
      message: 'portHandoff must be "announce" or "env", got "auto"',
    });
  });
});

describe('process launcher, portHandoff "env"', () => {
  it("launches a plugin that only reads PORT, as connect-plugin-go plugins do", async () => {
    // Inherited from a launcher above this host: must not reach the child.
    vi.stubEnv("CPG_PORT_ANNOUNCE", "stdout");
    const { events } = await recordingHost();

    await host!.platform.add(spec("go-like", portOnlyPlugin, { portHandoff: "env" }));

    const listening = events.find((e) => e.event === "listening")!;
    expect(listening.announceEnv).toBe("");
    const status = host!.platform.get("go-like")!;
    expect(status).toMatchObject({
      state: "running",
      url: `http://127.0.0.1:${listening.port}`,
      pid: listening.pid,
    });
    const requests = () => events.filter((e) => e.event === "request").map((e) => e.procedure);
    // Its stdout and its HEALTHY report travel apart: wait for the lines.
    await waitFor(() => requests().length >= 3, { description: "three requests logged" });
    expect(requests()).toEqual([
      "/connectplugin.v1.PluginControl/GetHealth",
      "/connectplugin.v1.PluginIdentity/GetPluginInfo",
      "/connectplugin.v1.PluginIdentity/SetRuntimeIdentity",
    ]);
    await host!.platform.remove("go-like");
    expect(alive(status.pid!)).toBe(false);
  });
});
