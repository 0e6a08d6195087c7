import { fileURLToPath } from "node:url";
import { Code, createClient } from "@connectrpc/connect";
import { API_KEY_HEADER, adminV1 } from "@cpg/protocol";
import { afterEach, describe, expect, it } from "vitest";
import type { AuditEvent } from "../audit/audit-sink.js";
import type { Host } from "../host.js";
import { joinInMemory, testHost } from "../test-support/test-host.js";

const fixture = fileURLToPath(
  new URL("../integration/fixtures/platform-plugin.mjs", import.meta.url),
);

let host: Host;
afterEach(() => host?.close());

const audit: AuditEvent[] = [];
function start() {
  audit.length = 0;
  host = testHost({
    audit: (e) => audit.push(e),
    admin: {
      apiKeys: {
        "operator-key-0123456789": { identity: "alice", role: "operator" },
        "viewer-key-0123456789": { identity: "dashboard", role: "viewer" },
      },
    },
  });
  return host;
}

const admin = (key?: string) =>
  createClient(
    adminV1.AdminService,
    host.createInMemoryTransport({
      interceptors: [
        (next) => (req) => {
          if (key) req.header.set(API_KEY_HEADER, key);
          return next(req);
        },
      ],
    }),
  );

describe("AdminService", () => {
  it("refuses callers without operator credentials (LAUNCH-HIGH-002)", async () => {
    start();
    await expect(admin().listPlugins({})).rejects.toMatchObject({ code: Code.Unauthenticated });
    await expect(admin("wrong-key").listPlugins({})).rejects.toMatchObject({
      code: Code.Unauthenticated,
    });
    const plugin = await joinInMemory(host, "sneaky");
    const asPlugin = createClient(adminV1.AdminService, plugin.transport);
    await expect(asPlugin.removePlugin({ name: "anything" })).rejects.toMatchObject({
      code: Code.PermissionDenied,
      rawMessage: "only operators may use the admin API",
    });
    await expect(asPlugin.listPlugins({})).rejects.toMatchObject({ code: Code.PermissionDenied });
  });

  it("lets viewers read but not change", async () => {
    start();
    await joinInMemory(host, "kv-store");
    const viewer = admin("viewer-key-0123456789");
    const { plugins } = await viewer.listPlugins({});
    expect(plugins.map((p) => p.selfId)).toEqual(["kv-store"]);
    await expect(viewer.removePlugin({ name: "kv-store" })).rejects.toMatchObject({
      code: Code.PermissionDenied,
      rawMessage: 'operator "dashboard" may only read',
    });
    await expect(viewer.revokeGrant({ grantId: "grant-x" })).rejects.toMatchObject({
      code: Code.PermissionDenied,
    });
    await expect(viewer.revokeRuntime({ runtimeId: "kv-store-1" })).rejects.toMatchObject({
      code: Code.PermissionDenied,
    });
  });

  it("revokes a runtime identity: its token stops working at once, and it is audited", async () => {
    start();
    const plugin = await joinInMemory(host, "compromised");
    const operator = admin("operator-key-0123456789");
    expect(await operator.revokeRuntime({ runtimeId: plugin.runtimeId })).toMatchObject({
      revoked: true,
    });
    expect(host.identities.get(plugin.runtimeId)).toBeUndefined();
    await expect(
      createClient(adminV1.AdminService, plugin.transport).listPlugins({}),
    ).rejects.toMatchObject({ code: Code.Unauthenticated });
    expect(await operator.revokeRuntime({ runtimeId: plugin.runtimeId })).toMatchObject({
      revoked: false,
    });
    expect(audit.filter((e) => e.event === "admin.revoke_runtime")).toMatchObject([
      { operator: "alice", runtime_id: plugin.runtimeId, revoked: true },
      { operator: "alice", runtime_id: plugin.runtimeId, revoked: false },
    ]);
  });

  it("launches a plugin that only reads PORT when port_handoff is env, and refuses unknown values", async () => {
    start();
    await host.listen();
    const operator = admin("operator-key-0123456789");
    const portOnly = fileURLToPath(
      new URL("../platform/fixtures/port-only-plugin.mjs", import.meta.url),
    );
    await expect(
      operator.addPlugin({
        name: "go",
        command: process.execPath,
        args: [portOnly],
        portHandoff: "auto",
      }),
    ).rejects.toMatchObject({
      code: Code.InvalidArgument,
      rawMessage:
        'port_handoff must be "announce" (cpg SDK plugins), "env" (plugins that read PORT, e.g. Go) or empty, got "auto"',
    });
    await expect(
      operator.addPlugin({ name: "remote", url: "http://127.0.0.1:9", portHandoff: "env" }),
    ).rejects.toMatchObject({
      code: Code.InvalidArgument,
      rawMessage: "port_handoff applies to process plugins (command) only",
    });
    const added = await operator.addPlugin({
      name: "go",
      command: process.execPath,
      args: [portOnly],
      env: { PLUGIN_SELF_ID: "go", PLUGIN_TYPE: "go" },
      portHandoff: "env",
    });
    expect(added.plugin).toMatchObject({ name: "go", state: "running", strategy: "process" });
    await operator.removePlugin({ name: "go" });
  });

  it("lets operators add, list and remove managed plugins, audited with their identity", async () => {
    start();
    await host.listen();
    const operator = admin("operator-key-0123456789");
    const added = await operator.addPlugin({
      name: "echo",
      command: process.execPath,
      args: [fixture],
      env: { PLUGIN_SELF_ID: "echo", PLUGIN_TYPE: "echo" },
    });
    expect(added.plugin).toMatchObject({
      name: "echo",
      state: "running",
      strategy: "process",
      selfId: "echo",
    });
    const { services } = await operator.listServices({});
    expect(services.map((s) => [s.serviceType, s.providerSelfId, s.routable])).toEqual([
      ["echo", "echo", true],
    ]);
    await expect(
      operator.addPlugin({ name: "echo", command: process.execPath }),
    ).rejects.toMatchObject({
      code: Code.AlreadyExists,
    });
    await expect(
      operator.addPlugin({ name: "bad", command: "relative/path" }),
    ).rejects.toMatchObject({
      code: Code.InvalidArgument,
      rawMessage: 'plugin binary path must be absolute, got "relative/path"',
    });
    await operator.removePlugin({ name: "echo" });
    await expect(operator.removePlugin({ name: "echo" })).rejects.toMatchObject({
      code: Code.NotFound,
    });
    expect(
      audit.filter((e) => e.event.startsWith("admin.")).map((e) => [e.event, e.operator, e.plugin]),
    ).toEqual([
      ["admin.add_plugin", "alice", "echo"],
      ["admin.remove_plugin", "alice", "echo"],
    ]);
  });

  it("streams recent and new events", async () => {
    start();
    const abort = new AbortController();
    await joinInMemory(host, "first");
    const seen: string[] = [];
    const stream = admin("viewer-key-0123456789").watchEvents(
      { backlog: 10 },
      { signal: abort.signal },
    );
    const reading = (async () => {
      for await (const e of stream) {
        seen.push(`${e.kind}:${e.name}:${e.fields.selfId ?? ""}`);
        if (seen.some((s) => s.endsWith(":second"))) abort.abort();
      }
    })().catch(() => {});
    await joinInMemory(host, "second");
    await reading;
    expect(seen).toContain("runtime:runtime.issued:first");
    expect(seen).toContain("runtime:runtime.issued:second");
  });
});
