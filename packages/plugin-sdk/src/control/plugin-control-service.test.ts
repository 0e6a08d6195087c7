import { Code, createClient, createRouterTransport } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { HealthState, PluginControl, PluginIdentity } from "@cpg/protocol";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { Plugin } from "../plugin.js";
import { auth, errorOf, usePlugins } from "../test-support/test-plugins.js";

afterEach(() => {
  vi.unstubAllEnvs();
});
const testPlugin = usePlugins();

function control(plugin: Plugin) {
  return createClient(PluginControl, createRouterTransport(plugin.routes));
}

describe("PluginControl.GetHealth", () => {
  it("answers HEALTHY for a new plugin", async () => {
    const res = await control(testPlugin()).getHealth({});
    expect([res.state, res.reason, res.unavailableDependencies]).toEqual([
      HealthState.HEALTHY,
      "",
      [],
    ]);
  });

  it("reflects setHealth()", async () => {
    const plugin = testPlugin();
    await plugin.setHealth({
      state: HealthState.DEGRADED,
      reason: "cache is cold",
      unavailableDependencies: ["kv"],
    });
    const res = await control(plugin).getHealth({});
    expect([res.state, res.reason, res.unavailableDependencies]).toEqual([
      HealthState.DEGRADED,
      "cache is cold",
      ["kv"],
    ]);
    expect(plugin.health).toEqual({
      state: HealthState.DEGRADED,
      reason: "cache is cold",
      unavailableDependencies: ["kv"],
    });
    await plugin.setHealth({ state: HealthState.UNHEALTHY });
    const after = await control(plugin).getHealth({});
    expect([after.state, after.reason, after.unavailableDependencies]).toEqual([
      HealthState.UNHEALTHY,
      "",
      [],
    ]);
  });

  it("needs no credentials, even with a launch secret", async () => {
    const res = await control(testPlugin({ launchSecret: "s3cret" })).getHealth({});
    expect(res.state).toBe(HealthState.HEALTHY);
  });
});

describe("PluginControl.Shutdown", () => {
  it("acknowledges and resolves shutdownRequested with the grace period in ms and the reason", async () => {
    const plugin = testPlugin();
    const res = await control(plugin).shutdown({ gracePeriodSeconds: 3, reason: "upgrade" });
    expect(res.acknowledged).toBe(true);
    expect(await plugin.shutdownRequested).toEqual({ gracePeriodMs: 3000, reason: "upgrade" });
  });

  it("accepts a zero grace period", async () => {
    const plugin = testPlugin();
    expect((await control(plugin).shutdown({})).acknowledged).toBe(true);
    expect(await plugin.shutdownRequested).toEqual({ gracePeriodMs: 0, reason: "" });
  });

  it("refuses a negative grace period with invalid_argument", async () => {
    const plugin = testPlugin();
    const error = await errorOf(control(plugin).shutdown({ gracePeriodSeconds: -1 }));
    expect([error?.code, error?.rawMessage]).toEqual([
      Code.InvalidArgument,
      "grace_period_seconds must not be negative, got -1",
    ]);
  });

  it("answers before the plugin starts stopping, over the network too", async () => {
    const plugin = testPlugin();
    const { url } = await plugin.listen();
    const client = createClient(
      PluginControl,
      createConnectTransport({ baseUrl: url, httpVersion: "1.1", useBinaryFormat: true }),
    );
    const res = await client.shutdown({ gracePeriodSeconds: 1, reason: "test" });
    expect(res.acknowledged).toBe(true);
    expect(await plugin.shutdownRequested).toEqual({ gracePeriodMs: 1000, reason: "test" });
  });
});

describe("the launch secret guard", () => {
  it("without a launch secret and before any identity, anyone may call Shutdown", async () => {
    const plugin = testPlugin();
    expect((await control(plugin).shutdown({ reason: "go" })).acknowledged).toBe(true);
  });

  it("with a launch secret, Shutdown needs Authorization: Bearer <secret>", async () => {
    const plugin = testPlugin({ launchSecret: "s3cret" });
    const client = control(plugin);

    const missing = await errorOf(client.shutdown({ reason: "go" }));
    expect([missing?.code, missing?.rawMessage]).toEqual([
      Code.Unauthenticated,
      "plugin control needs the host's credentials",
    ]);

    const wrong = await errorOf(client.shutdown({ reason: "go" }, auth("guess")));
    expect([wrong?.code, wrong?.rawMessage]).toEqual([
      Code.PermissionDenied,
      "plugin control refused: wrong credentials",
    ]);

    // Another scheme counts as no credentials.
    const basic = await errorOf(
      client.shutdown({ reason: "go" }, { headers: { authorization: "Basic czNjcmV0" } }),
    );
    expect(basic?.code).toBe(Code.Unauthenticated);

    expect((await client.shutdown({ reason: "go" }, auth("s3cret"))).acknowledged).toBe(true);
    expect(await plugin.shutdownRequested).toEqual({ gracePeriodMs: 0, reason: "go" });
  });

  it("takes the launch secret from CPG_LAUNCH_SECRET by default", async () => {
    vi.stubEnv("CPG_LAUNCH_SECRET", "from-env");
    const client = control(testPlugin());
    expect((await errorOf(client.shutdown({})))?.code).toBe(Code.Unauthenticated);
    expect((await client.shutdown({}, auth("from-env"))).acknowledged).toBe(true);
  });

  it("once the plugin holds a runtime identity, Shutdown needs its runtime token", async () => {
    const plugin = testPlugin();
    const transport = createRouterTransport(plugin.routes);
    await createClient(PluginIdentity, transport).setRuntimeIdentity({
      runtimeId: "kv-store-1",
      runtimeToken: "runtime-token",
      hostUrl: "http://127.0.0.1:1",
    });
    const client = createClient(PluginControl, transport);
    expect((await errorOf(client.shutdown({})))?.code).toBe(Code.Unauthenticated);
    expect((await errorOf(client.shutdown({}, auth("other"))))?.code).toBe(Code.PermissionDenied);
    expect((await client.shutdown({}, auth("runtime-token"))).acknowledged).toBe(true);
  });
});
