import { Code, createClient, createRouterTransport } from "@connectrpc/connect";
import { Logger, PluginIdentity } from "@cpg/protocol";
import { describe, expect, it } from "vitest";
import type { RuntimeCredentials } from "../host-link/host-session.js";
import type { Plugin } from "../plugin.js";
import { provide } from "../provided-service.js";
import { KVService } from "../test-support/kv-service.js";
import { auth, errorOf, usePlugins } from "../test-support/test-plugins.js";

const testPlugin = usePlugins();

// Host URLs in these tests point at a closed port: the plugin's health report
// after an identity change fails quietly (silent logger).
const HOST_URL = "http://127.0.0.1:1";

function identity(plugin: Plugin) {
  return createClient(PluginIdentity, createRouterTransport(plugin.routes));
}

describe("PluginIdentity.GetPluginInfo", () => {
  it("returns selfId, version, provides, requires with defaults, and metadata", async () => {
    const plugin = testPlugin({
      services: [
        provide(KVService, { get: () => ({ value: "", found: false }) }),
        provide(Logger, { log: () => ({}) }, { version: "2.1.0" }),
      ],
      requires: [
        { type: "auth" },
        { type: "cache", minVersion: "1.2.0", requiredForStartup: false, watchForChanges: false },
      ],
      metadata: { team: "storage", region: "eu-1" },
    });
    const info = await identity(plugin).getPluginInfo({});
    expect(info.selfId).toBe("kv-store");
    expect(info.selfVersion).toBe("1.0.0");
    expect(info.provides.map(({ type, version, path }) => ({ type, version, path }))).toEqual([
      { type: "kv", version: "1.0.0", path: "/kv.v1.KVService/" },
      { type: "logger", version: "2.1.0", path: "/capability.logger.v1.Logger/" },
    ]);
    expect(
      info.requires.map(({ type, minVersion, requiredForStartup, watchForChanges }) => ({
        type,
        minVersion,
        requiredForStartup,
        watchForChanges,
      })),
    ).toEqual([
      { type: "auth", minVersion: "", requiredForStartup: true, watchForChanges: true },
      { type: "cache", minVersion: "1.2.0", requiredForStartup: false, watchForChanges: false },
    ]);
    expect(info.metadata).toEqual({ team: "storage", region: "eu-1" });
  });

  it("needs no credentials, even with a launch secret", async () => {
    const info = await identity(testPlugin({ launchSecret: "s3cret" })).getPluginInfo({});
    expect(info.selfId).toBe("kv-store");
  });
});

describe("PluginIdentity.SetRuntimeIdentity", () => {
  it.each([
    ["runtime_id", { runtimeToken: "t", hostUrl: HOST_URL }],
    ["runtime_token", { runtimeId: "kv-store-1", hostUrl: HOST_URL }],
  ])("refuses an empty %s with invalid_argument", async (_, request) => {
    const error = await errorOf(identity(testPlugin()).setRuntimeIdentity(request));
    expect([error?.code, error?.rawMessage]).toEqual([
      Code.InvalidArgument,
      "runtime_id and runtime_token must not be empty",
    ]);
  });

  it.each([
    ["", 'host_url must be an absolute http(s) URL, got ""'],
    ["host:8080", 'host_url must be an absolute http(s) URL, got "host:8080"'],
    ["/relative", 'host_url must be an absolute http(s) URL, got "/relative"'],
    ["ftp://127.0.0.1:21", 'host_url must be an absolute http(s) URL, got "ftp://127.0.0.1:21"'],
  ])("refuses host_url %j with invalid_argument", async (hostUrl, message) => {
    const plugin = testPlugin();
    const error = await errorOf(
      identity(plugin).setRuntimeIdentity({ runtimeId: "kv-store-1", runtimeToken: "t", hostUrl }),
    );
    expect([error?.code, error?.rawMessage]).toEqual([Code.InvalidArgument, message]);
    expect(plugin.credentials).toBeUndefined();
  });

  it("adopts the identity: credentials, identityChanges and the host transport", async () => {
    const plugin = testPlugin();
    const changes: Array<{
      current: RuntimeCredentials;
      previous: RuntimeCredentials | undefined;
    }> = [];
    plugin.identityChanges.subscribe((change) => changes.push(change));
    const res = await identity(plugin).setRuntimeIdentity({
      runtimeId: "kv-store-1a2b",
      runtimeToken: "token-1",
      hostUrl: `${HOST_URL}/`,
      runtimeTokenExpiresUnixMs: 0n,
    });
    expect(res.acknowledged).toBe(true);
    const expected = {
      runtimeId: "kv-store-1a2b",
      token: "token-1",
      expiresAt: 0,
      hostUrl: HOST_URL,
    };
    expect(plugin.credentials).toEqual(expected);
    expect(changes).toEqual([{ current: expected, previous: undefined }]);
    expect(plugin.hostTransport).toBeDefined();
  });

  it("refuses a second identity without the current runtime token", async () => {
    const plugin = testPlugin();
    const client = identity(plugin);
    await client.setRuntimeIdentity({
      runtimeId: "kv-1",
      runtimeToken: "token-1",
      hostUrl: HOST_URL,
    });

    const second = { runtimeId: "kv-2", runtimeToken: "token-2", hostUrl: HOST_URL };
    const missing = await errorOf(client.setRuntimeIdentity(second));
    expect([missing?.code, missing?.rawMessage]).toEqual([
      Code.Unauthenticated,
      "plugin control needs the host's credentials",
    ]);
    const wrong = await errorOf(client.setRuntimeIdentity(second, auth("token-2")));
    expect([wrong?.code, wrong?.rawMessage]).toEqual([
      Code.PermissionDenied,
      "plugin control refused: wrong credentials",
    ]);
    expect(plugin.credentials?.runtimeId).toBe("kv-1");

    // The holder of the current token may hand over a new identity.
    const changes: string[] = [];
    plugin.identityChanges.subscribe(({ current, previous }) =>
      changes.push(`${previous?.runtimeId} -> ${current.runtimeId}`),
    );
    expect((await client.setRuntimeIdentity(second, auth("token-1"))).acknowledged).toBe(true);
    expect(plugin.credentials?.runtimeId).toBe("kv-2");
    expect(changes).toEqual(["kv-1 -> kv-2"]);
    // From now on only the new token opens the door.
    const stale = await errorOf(
      client.setRuntimeIdentity(
        { runtimeId: "kv-3", runtimeToken: "token-3", hostUrl: HOST_URL },
        auth("token-1"),
      ),
    );
    expect(stale?.code).toBe(Code.PermissionDenied);
  });

  it("with a launch secret, even the first identity needs it, and the secret stays valid", async () => {
    const plugin = testPlugin({ launchSecret: "s3cret" });
    const client = identity(plugin);
    const first = { runtimeId: "kv-1", runtimeToken: "token-1", hostUrl: HOST_URL };
    expect((await errorOf(client.setRuntimeIdentity(first)))?.code).toBe(Code.Unauthenticated);
    expect((await errorOf(client.setRuntimeIdentity(first, auth("nope"))))?.code).toBe(
      Code.PermissionDenied,
    );
    expect(plugin.credentials).toBeUndefined();
    await client.setRuntimeIdentity(first, auth("s3cret"));
    expect(plugin.credentials?.runtimeId).toBe("kv-1");
    // The launcher keeps its secret; the runtime token works as well.
    const second = { runtimeId: "kv-2", runtimeToken: "token-2", hostUrl: HOST_URL };
    await client.setRuntimeIdentity(second, auth("s3cret"));
    expect(plugin.credentials?.runtimeId).toBe("kv-2");
    await client.setRuntimeIdentity({ ...first, runtimeToken: "token-3" }, auth("token-2"));
    expect(plugin.credentials).toMatchObject({ runtimeId: "kv-1", token: "token-3" });
  });
});
