import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { EchoService } from "@cpg/examples-proto";
import { createPlugin, type Plugin, provide, silentLogger } from "@cpg/plugin-sdk";
import { waitFor } from "@cpg/test-utils";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { AuditEvent } from "../audit/audit-sink.js";
import type { Host } from "../host.js";
import { isHostError } from "../host-error.js";
import type { ManagedPluginSpec } from "../platform/managed-plugin-spec.js";
import { startNode } from "../test-support/child-process.js";
import { handshakeClient, handshakeRequest, testHost } from "../test-support/test-host.js";

const fixture = fileURLToPath(new URL("./fixtures/platform-plugin.mjs", import.meta.url));
const hostFixture = fileURLToPath(new URL("./fixtures/host-with-plugins.mjs", import.meta.url));

let host: Host | undefined;
const plugins: Plugin[] = [];
afterEach(async () => {
  for (const p of plugins.splice(0)) await p.close(100);
  await host?.close();
  host = undefined;
});

const processSpec = (
  name: string,
  extra: { type?: string; requires?: string } = {},
): ManagedPluginSpec => ({
  name,
  strategy: {
    kind: "process",
    command: process.execPath,
    args: [fixture],
    env: {
      PLUGIN_SELF_ID: name,
      PLUGIN_TYPE: extra.type ?? name,
      PLUGIN_REQUIRES: extra.requires ?? "",
    },
  },
  provides: [{ type: extra.type ?? name, version: "1.0.0" }],
  ...(extra.requires ? { requires: extra.requires.split(",").map((type) => ({ type })) } : {}),
});

async function platformHost() {
  const audit: AuditEvent[] = [];
  host = testHost({ audit: (e) => audit.push(e), platform: { restartBackoffMs: 50 } });
  const { url } = await host.listen();
  return { url, audit };
}

async function caller(url: string) {
  const p = createPlugin({ selfId: "caller", version: "1.0.0", logger: silentLogger });
  plugins.push(p);
  await p.join(url);
  return p;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe("platform", () => {
  it("refuses an invalid binary path before anything runs", async () => {
    await platformHost();
    const dir = mkdtempSync(join(tmpdir(), "cpg-bin-"));
    try {
      const notExecutable = join(dir, "plugin");
      writeFileSync(notExecutable, "#!/bin/sh\n");
      chmodSync(notExecutable, 0o644);
      const cases: Array<[string, string]> = [
        ["bin/plugin", 'plugin binary path must be absolute, got "bin/plugin"'],
        [join(dir, "missing"), `plugin binary ${join(dir, "missing")} does not exist`],
        [notExecutable, `plugin binary ${notExecutable} is not executable`],
        [dir, `plugin binary ${dir} is not a file`],
      ];
      for (const [command, message] of cases) {
        const error = await host!.platform
          .add({ name: "bad", strategy: { kind: "process", command } })
          .catch((e: unknown) => e);
        expect(isHostError(error) && error.code).toBe("invalid_config");
        expect((error as Error).message).toBe(message);
      }
      chmodSync(notExecutable, 0o755);
      const confined = testHost({ platform: { allowedBinaryDirs: [join(dir, "elsewhere")] } });
      const outside = await confined.platform
        .add({ name: "bad", strategy: { kind: "process", command: notExecutable } })
        .catch((e: unknown) => e);
      await confined.close();
      expect((outside as Error).message).toMatch(/is outside the allowed directories/);
      expect(host!.platform.list()).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("refuses a dependency cycle and names its members", async () => {
    await platformHost();
    const a = processSpec("cycle-a", { type: "a", requires: "b" });
    const b = processSpec("cycle-b", { type: "b", requires: "a" });
    const error = await host!.platform.start([a, b]).catch((e: unknown) => e);
    expect((error as Error).message).toBe("dependency cycle: cycle-a -> cycle-b -> cycle-a");
    expect(host!.platform.list()).toEqual([]);
  });

  it("starts plugins in dependency order and routes calls to them", async () => {
    const { url, audit } = await platformHost();
    // Given dependents first; providers must still start first.
    await host!.platform.start([
      processSpec("cache", { type: "cache", requires: "kv" }),
      processSpec("kv"),
    ]);
    expect(audit.filter((e) => e.event === "platform.start").map((e) => e.plugin)).toEqual([
      "kv",
      "cache",
    ]);
    expect(host!.platform.list().map((p) => [p.name, p.state])).toEqual([
      ["kv", "running"],
      ["cache", "running"],
    ]);
    expect(host!.platform.impact("kv")).toEqual([{ plugin: "cache", service: "kv" }]);
    const refused = await host!.platform.remove("kv").catch((e: unknown) => e);
    expect(isHostError(refused) && refused.code).toBe("in_use");
    expect((refused as Error).message).toBe(
      'removing "kv" would leave "cache" without "kv"; remove those first or force it',
    );
    const c = await caller(url);
    expect((await c.client(EchoService, { type: "kv" }).echo({ message: "hi" })).message).toBe(
      "kv:hi",
    );
  });

  it("replaces a plugin under a steady stream of calls without losing one", async () => {
    const { url } = await platformHost();
    await host!.platform.add(processSpec("echo"));
    const before = host!.platform.get("echo")!;
    const c = await caller(url);
    const client = c.client(EchoService);
    let ok = 0;
    const failures: unknown[] = [];
    let running = true;
    const load = (async () => {
      while (running) {
        await client.echo({ message: "x", delayMs: 5 }).then(
          () => ok++,
          (error: unknown) => failures.push(error),
        );
      }
    })();
    await waitFor(() => ok >= 20, { description: "calls before the replace", timeoutMs: 10_000 });
    const replaced = await host!.platform.replace("echo");
    const atSwitch = ok;
    await waitFor(() => ok >= atSwitch + 20, {
      description: "calls after the replace",
      timeoutMs: 10_000,
    });
    running = false;
    await load;
    expect(failures.map((e) => String(e))).toEqual([]);
    expect(replaced.runtimeId).not.toBe(before.runtimeId);
    expect(alive(before.pid!)).toBe(false);
    expect(host!.registry.providers("echo").map((r) => r.runtimeId)).toEqual([replaced.runtimeId]);
  });

  it("drains calls in flight before removing a plugin", async () => {
    const { url, audit } = await platformHost();
    await host!.platform.add(processSpec("echo"));
    const { pid, runtimeId } = host!.platform.get("echo")!;
    const c = await caller(url);
    const slow = c.client(EchoService).echo({ message: "slow", delayMs: 500 });
    await waitFor(() => host!.router.inFlight(runtimeId!) === 1, { description: "call in flight" });
    await host!.platform.remove("echo");
    expect((await slow).message).toBe("echo:slow");
    expect(alive(pid!)).toBe(false);
    expect(host!.registry.providers("echo")).toEqual([]);
    expect(host!.identities.get(runtimeId!)).toBeUndefined();
    expect(audit.some((e) => e.event === "platform.remove" && e.plugin === "echo")).toBe(true);
  });

  it("restarts a crashed plugin", async () => {
    await platformHost();
    await host!.platform.add(processSpec("crashy"));
    const first = host!.platform.get("crashy")!;
    process.kill(first.pid!, "SIGKILL");
    await waitFor(
      () => {
        const now = host!.platform.get("crashy");
        return now?.state === "running" && now.pid !== first.pid && now.restarts === 1;
      },
      { timeoutMs: 15_000, description: "restart" },
    );
    expect(host!.registry.providers("crashy").map((r) => r.runtimeId)).toEqual([
      host!.platform.get("crashy")!.runtimeId,
    ]);
  });

  it("can sandbox a Node plugin with Node's permission model", async () => {
    const lines: string[] = [];
    const record = (_: string, fields?: Record<string, unknown>) => {
      if (typeof fields?.line === "string") lines.push(fields.line);
    };
    host = testHost({ logger: { debug: record, info: record, warn: record, error: record } });
    await host.listen();
    const repo = fileURLToPath(new URL("../../../../", import.meta.url));
    const spec = processSpec("sandboxed");
    await host.platform.add({
      ...spec,
      strategy: {
        ...(spec.strategy as Extract<ManagedPluginSpec["strategy"], { kind: "process" }>),
        nodePermissions: { allowRead: [repo] },
      },
    });
    const listening = lines
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l))
      .find((l) => l.event === "listening");
    expect(listening).toMatchObject({ mayWrite: false });
    expect(host.registry.providers("sandboxed")).toHaveLength(1);
  });

  it("gives up after maxRestarts crashes", async () => {
    host = testHost({ platform: { restartBackoffMs: 20, maxRestarts: 1 } });
    await host.listen();
    await host.platform.add(processSpec("fragile"));
    const first = host.platform.get("fragile")!;
    process.kill(first.pid!, "SIGKILL");
    await waitFor(
      () =>
        host!.platform.get("fragile")?.restarts === 1 &&
        host!.platform.get("fragile")?.state === "running",
      {
        timeoutMs: 15_000,
        description: "first restart",
      },
    );
    process.kill(host.platform.get("fragile")!.pid!, "SIGKILL");
    await waitFor(() => host!.platform.get("fragile")?.state === "failed", {
      timeoutMs: 15_000,
      description: "failed",
    });
    expect(host.platform.get("fragile")).toMatchObject({ restarts: 1, runtimeId: undefined });
    expect(host.registry.providers("fragile")).toEqual([]);
  });

  it("leaves no plugin process behind when the host is killed", async () => {
    const p = startNode(hostFixture);
    try {
      const { pids } = JSON.parse(await p.waitForLine((l) => l.includes('"started"'), 30_000)) as {
        pids: number[];
      };
      expect(pids.every(alive)).toBe(true);
      p.child.kill("SIGKILL");
      await p.exited;
      await waitFor(() => !pids.some(alive), { timeoutMs: 10_000, description: "plugins gone" });
    } finally {
      p.kill();
    }
  });

  it("runs an in-memory plugin without sockets, routes to it, and shuts it down", async () => {
    const { url } = await platformHost();
    const listen = vi.spyOn(net.Server.prototype, "listen");
    let stopped = false;
    await host!.platform.add({
      name: "memo",
      strategy: {
        kind: "in-memory",
        plugin: {
          selfId: "memo",
          version: "1.0.0",
          logger: silentLogger,
          services: [
            provide(
              EchoService,
              { echo: (req) => ({ message: `memo:${req.message}` }) },
              { type: "memo" },
            ),
          ],
        },
      },
    });
    expect(listen).not.toHaveBeenCalled();
    listen.mockRestore();
    const status = host!.platform.get("memo")!;
    expect(status).toMatchObject({ state: "running", url: undefined, pid: undefined });
    const c = await caller(url);
    expect((await c.client(EchoService, { type: "memo" }).echo({ message: "hi" })).message).toBe(
      "memo:hi",
    );
    // Also over HTTP/1.1, as curl or a Go caller would come.
    const h1 = createClient(
      EchoService,
      createConnectTransport({
        baseUrl: `${url}/services/memo/${status.runtimeId}`,
        httpVersion: "1.1",
        interceptors: [
          (next) => (req) => {
            req.header.set("x-plugin-runtime-id", c.credentials!.runtimeId);
            req.header.set("authorization", `Bearer ${c.credentials!.token}`);
            return next(req);
          },
        ],
      }),
    );
    expect((await h1.echo({ message: "h1" })).message).toBe("memo:h1");
    await host!.platform.remove("memo");
    stopped = host!.identities.get(status.runtimeId!) === undefined;
    expect(stopped).toBe(true);
    expect(host!.registry.providers("memo")).toEqual([]);
  });
});

describe("the handshake's plugins list", () => {
  it("describes the managed plugins, narrowed by requested_plugins", async () => {
    host = testHost();
    const { url } = await host.listen();
    await host.platform.start([
      processSpec("kv"),
      processSpec("cache", { type: "cache", requires: "kv" }),
    ]);
    const client = handshakeClient(createConnectTransport({ baseUrl: url, httpVersion: "1.1" }));
    const all = await client.handshake(handshakeRequest({ selfId: "" }));
    expect(
      all.plugins.map((p) => [
        p.name,
        p.provides.map((d) => d.type),
        p.requires.map((d) => d.type),
      ]),
    ).toEqual([
      ["kv", ["kv"], []],
      ["cache", ["cache"], ["kv"]],
    ]);
    expect(all.plugins[0]!.provides[0]!.path).toMatch(/^\/services\/kv\/kv-[0-9a-f]{16}$/);
    const some = await client.handshake(
      handshakeRequest({ selfId: "", requestedPlugins: ["cache"] }),
    );
    expect(some.plugins.map((p) => p.name)).toEqual(["cache"]);
  });
});
