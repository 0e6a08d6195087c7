import * as http from "node:http";
import { Code, ConnectError, createClient, createRouterTransport } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import {
  CLIENT_VERSION_METADATA_KEY,
  HealthState,
  MAGIC_COOKIE_KEY,
  MAGIC_COOKIE_VALUE,
  PluginIdentity,
  PluginLifecycle,
  ServiceState,
} from "@cpg/protocol";
import { listenOnFreePort } from "@cpg/test-utils";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { RuntimeCredentials } from "./host-link/host-session.js";
import { silentLogger } from "./logging/logger.js";
import { createPlugin, type Plugin, SDK_VERSION } from "./plugin.js";
import { isPluginError, type PluginError } from "./plugin-error.js";
import type { PluginOptions } from "./plugin-options.js";
import { provide } from "./provided-service.js";
import { type FakeHost, startFakeHost } from "./test-support/fake-host.js";
import { KVService } from "./test-support/kv-service.js";

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  vi.unstubAllEnvs();
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

function testPlugin(options: Partial<PluginOptions> = {}): Plugin {
  const plugin = createPlugin({
    selfId: "kv-store",
    version: "1.2.0",
    services: [provide(KVService, { get: (req) => ({ value: req.key, found: true }) })],
    logger: silentLogger,
    ...options,
  });
  cleanup.push(() => plugin.close(100));
  return plugin;
}

async function fakeHost(options: Parameters<typeof startFakeHost>[0] = {}): Promise<FakeHost> {
  const host = await startFakeHost(options);
  cleanup.push(() => host.close());
  return host;
}

async function pluginErrorOf(promise: Promise<unknown>): Promise<PluginError | undefined> {
  try {
    await promise;
    return undefined;
  } catch (error) {
    if (isPluginError(error)) return error;
    throw error;
  }
}

function syncPluginErrorOf(fn: () => unknown): PluginError | undefined {
  try {
    fn();
    return undefined;
  } catch (error) {
    if (isPluginError(error)) return error;
    throw error;
  }
}

describe("a plugin joins a host (unmanaged model)", () => {
  it("handshakes as connect-plugin-go clients do, over HTTP/1.1 with binary protobuf", async () => {
    const host = await fakeHost();
    const plugin = testPlugin();
    const credentials = await plugin.join(host.url);
    expect(credentials).toEqual({
      runtimeId: "kv-store-1",
      token: "token-1",
      expiresAt: 0,
      hostUrl: host.url,
    });
    expect(plugin.credentials).toEqual(credentials);
    const [handshake] = host.handshakes;
    expect(handshake?.httpVersion).toBe("1.1");
    expect(handshake?.contentType).toBe("application/proto");
    expect(handshake?.runtimeId).toBeNull();
    expect(handshake?.token).toBeUndefined();
    const req = handshake!.message;
    expect({
      core: req.coreProtocolVersion,
      app: req.appProtocolVersion,
      apps: req.appProtocolVersions,
      cookie: [req.magicCookieKey, req.magicCookieValue],
      self: [req.selfId, req.selfVersion],
      metadata: req.clientMetadata,
    }).toEqual({
      core: 1,
      app: 1,
      apps: [1],
      cookie: [MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE],
      self: ["kv-store", "1.2.0"],
      metadata: { [CLIENT_VERSION_METADATA_KEY]: SDK_VERSION },
    });
    expect(req.nonce).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(Math.abs(Number(req.timestampUnixMs) - Date.now())).toBeLessThan(60_000);
  });

  it("offers its highest app protocol version and lists all of them", async () => {
    const host = await fakeHost();
    await testPlugin({ appProtocolVersions: [1, 3, 2] }).join(host.url);
    const req = host.handshakes[0]!.message;
    expect([req.appProtocolVersion, req.appProtocolVersions]).toEqual([3, [1, 3, 2]]);
  });

  it("reports HEALTHY once joined, authenticated as its runtime", async () => {
    const host = await fakeHost();
    const plugin = testPlugin();
    const report = host.nextReport(0);
    await plugin.join(`${host.url}/`);
    const seen = await report;
    expect([seen.runtimeId, seen.token, seen.message.state]).toEqual([
      "kv-store-1",
      "token-1",
      HealthState.HEALTHY,
    ]);
  });

  it("reports health changes to the host, once per change", async () => {
    const host = await fakeHost();
    const plugin = testPlugin();
    await plugin.join(host.url);
    await host.nextReport(0);
    await plugin.setHealth({
      state: HealthState.DEGRADED,
      reason: "cache is cold",
      unavailableDependencies: ["cache"],
    });
    // Reporting the same again sends nothing.
    await plugin.setHealth({
      state: HealthState.DEGRADED,
      reason: "cache is cold",
      unavailableDependencies: ["cache"],
    });
    await plugin.setHealth({ state: HealthState.HEALTHY });
    const states = host.reports.map((r) => [
      r.message.state,
      r.message.reason,
      r.message.unavailableDependencies,
    ]);
    expect(states).toEqual([
      [HealthState.HEALTHY, "", []],
      [HealthState.DEGRADED, "cache is cold", ["cache"]],
      [HealthState.HEALTHY, "", []],
    ]);
  });

  it("joins the host named by HOST_URL when join() gets no URL", async () => {
    const host = await fakeHost();
    vi.stubEnv("HOST_URL", host.url);
    const credentials = await testPlugin().join();
    expect(credentials.hostUrl).toBe(host.url);
  });

  it("hostTransport authenticates calls as the plugin", async () => {
    const host = await fakeHost();
    const plugin = testPlugin();
    await plugin.join(host.url);
    await host.nextReport(0);
    await createClient(PluginLifecycle, plugin.hostTransport).reportHealth({
      state: HealthState.DEGRADED,
      reason: "by hand",
    });
    expect(host.reports[1]).toMatchObject({
      runtimeId: "kv-store-1",
      token: "token-1",
      message: { state: HealthState.DEGRADED, reason: "by hand" },
    });
  });

  it("handshakes again by itself when the host answers unauthenticated, and retries once", async () => {
    const host = await fakeHost();
    const plugin = testPlugin();
    await plugin.join(host.url);
    await host.nextReport(0);
    const changes: Array<[string | undefined, string]> = [];
    plugin.identityChanges.subscribe(({ previous, current }) =>
      changes.push([previous?.token, current.token]),
    );
    // The host forgets the token, as after a restart.
    host.validTokens.clear();
    await createClient(PluginLifecycle, plugin.hostTransport).reportHealth({
      state: HealthState.HEALTHY,
      reason: "after recovery",
    });
    expect(host.handshakes).toHaveLength(2);
    expect(plugin.credentials).toMatchObject({ runtimeId: "kv-store-2", token: "token-2" });
    expect(changes).toEqual([["token-1", "token-2"]]);
    expect(host.reports.some((r) => r.message.reason === "after recovery")).toBe(true);
  });

  it("refreshes its token before it expires, keeping its runtime id", async () => {
    const host = await fakeHost({
      handshake: (req, n, runtimeId) => ({
        coreProtocolVersion: 1,
        appProtocolVersion: 1,
        runtimeId: runtimeId ?? `${req.selfId}-${n}`,
        runtimeToken: `token-${n}`,
        runtimeTokenExpiresUnixMs: BigInt(Date.now() + 200),
      }),
    });
    const plugin = testPlugin({ refreshAfter: 0.5 });
    const first = await plugin.join(host.url);
    const refreshed = new Promise<RuntimeCredentials>((resolve) =>
      plugin.identityChanges.subscribe(({ current }) => resolve(current)),
    );
    const next = await refreshed;
    expect(next.runtimeId).toBe(first.runtimeId);
    expect(next.token).toBe("token-2");
    // The refresh handshake proves the current identity.
    expect(host.handshakes[1]).toMatchObject({ runtimeId: "kv-store-1", token: "token-1" });
  });

  it("fails with join_failed when the host refuses the handshake", async () => {
    const host = await fakeHost({
      handshake: () => {
        throw new ConnectError("magic cookie mismatch", Code.InvalidArgument);
      },
    });
    const error = await pluginErrorOf(testPlugin().join(host.url));
    expect(error?.code).toBe("join_failed");
    expect(error?.message).toBe(
      `handshake with ${host.url} failed: [invalid_argument] magic cookie mismatch`,
    );
    expect(ConnectError.from(error?.cause).code).toBe(Code.InvalidArgument);
  });

  it("fails with join_failed when the host issues no runtime identity (no self_id support)", async () => {
    const host = await fakeHost({ handshake: () => ({ coreProtocolVersion: 1 }) });
    const error = await pluginErrorOf(testPlugin().join(host.url));
    expect([error?.code, error?.message]).toEqual([
      "join_failed",
      `host ${host.url} issued no runtime identity`,
    ]);
  });

  it("fails with join_failed when nothing listens at the host URL", async () => {
    const error = await pluginErrorOf(testPlugin().join("http://127.0.0.1:1"));
    expect(error?.code).toBe("join_failed");
    expect(error?.message).toMatch(
      /^handshake with http:\/\/127\.0\.0\.1:1 failed: \[unavailable\]/,
    );
  });

  it("needs a host URL to join", async () => {
    vi.stubEnv("HOST_URL", "");
    const error = await pluginErrorOf(testPlugin().join());
    expect([error?.code, error?.message]).toEqual([
      "invalid_config",
      "no host to join: pass a URL to join(), set hostUrl, or set HOST_URL",
    ]);
  });

  it("has no host transport before joining", () => {
    const error = syncPluginErrorOf(() => testPlugin().hostTransport);
    expect([error?.code, error?.message]).toEqual([
      "not_joined",
      "the plugin has not joined a host yet",
    ]);
  });
});

describe("a plugin managed by its host", () => {
  it("reports health to the host URL it was given, with the token it was given", async () => {
    const host = await fakeHost();
    host.validTokens.set("handed-over", "kv-store-9");
    const plugin = testPlugin();
    const { url } = await plugin.listen();
    const report = host.nextReport(0);
    await createClient(
      PluginIdentity,
      createConnectTransport({ baseUrl: url, httpVersion: "1.1", useBinaryFormat: true }),
    ).setRuntimeIdentity({
      runtimeId: "kv-store-9",
      runtimeToken: "handed-over",
      hostUrl: host.url,
    });
    expect(await report).toMatchObject({
      runtimeId: "kv-store-9",
      token: "handed-over",
      message: { state: HealthState.HEALTHY },
    });
    // No handshake: the identity came from the host.
    expect(host.handshakes).toEqual([]);
  });
});

describe("services through a Go-like host (HTTP/1.1 router)", () => {
  async function provider(host: FakeHost) {
    const store = new Map<string, string>();
    const plugin = testPlugin({
      services: [
        provide(KVService, {
          get: (req) => ({ value: store.get(req.key) ?? "", found: store.has(req.key) }),
          put: (req) => {
            store.set(req.key, req.value);
            return {};
          },
        }),
      ],
    });
    await plugin.listen();
    await plugin.join(host.url);
    return plugin;
  }

  it("registers its services once joined, with base_url and http2", async () => {
    const host = await fakeHost();
    const plugin = await provider(host);
    await expect.poll(() => host.registrations.length).toBe(1);
    const [registration] = host.registrations;
    expect(registration?.runtimeId).toBe("kv-store-1");
    expect({
      serviceType: registration?.request.serviceType,
      version: registration?.request.version,
      endpointPath: registration?.request.endpointPath,
      metadata: registration?.request.metadata,
    }).toEqual({
      serviceType: "kv",
      version: "1.2.0",
      endpointPath: "/kv.v1.KVService/",
      metadata: { base_url: plugin.url, http2: "true" },
    });
    await expect.poll(() => plugin.registrations.get("kv")).toBe(registration?.id);
  });

  it("leaves nothing registered when it closes right after joining", async () => {
    const host = await fakeHost();
    const plugin = testPlugin();
    await plugin.listen();
    await plugin.join(host.url);
    await plugin.close();
    // The registration sent at join time may land after close() began.
    await expect.poll(() => host.registerCalls.length).toBe(1);
    expect(host.registrations).toEqual([]);
  });

  it("advertises baseUrl when given", async () => {
    const host = await fakeHost();
    const plugin = testPlugin({ baseUrl: "http://kv.internal:8082/" });
    await plugin.listen();
    await plugin.join(host.url);
    await expect
      .poll(() => host.registrations[0]?.request.metadata.base_url)
      .toBe("http://kv.internal:8082");
  });

  it("unregisters its services when it closes", async () => {
    const host = await fakeHost();
    const plugin = await provider(host);
    await expect.poll(() => host.registrations.length).toBe(1);
    await plugin.close();
    expect(host.registrations).toEqual([]);
  });

  it("calls another plugin's service through the host with client()", async () => {
    const host = await fakeHost();
    await provider(host);
    await expect.poll(() => host.registrations.length).toBe(1);
    const caller = testPlugin({ selfId: "kv-app", services: [], requires: [{ type: "kv" }] });
    await caller.join(host.url);
    const kv = caller.client(KVService);
    await kv.put({ key: "greeting", value: "hello" });
    expect(await kv.get({ key: "greeting" })).toMatchObject({ value: "hello", found: true });
  });

  it("discovers and watches a service type through the host", async () => {
    const host = await fakeHost();
    const caller = testPlugin({ selfId: "kv-app", services: [] });
    await caller.join(host.url);
    await expect(caller.discover("kv")).rejects.toMatchObject({
      code: Code.NotFound,
      rawMessage: 'no provider of "kv"',
    });
    const abort = new AbortController();
    const states: ServiceState[] = [];
    const watching = (async () => {
      for await (const event of caller.watch("kv", abort.signal)) {
        states.push(event.state);
        if (states.length === 2) abort.abort();
      }
    })().catch(() => {});
    await expect.poll(() => states.length).toBe(1);
    const kvStore = await provider(host);
    await watching;
    expect(states).toEqual([ServiceState.UNAVAILABLE, ServiceState.AVAILABLE]);
    const found = await caller.discover("kv");
    expect(found.endpoint).toMatchObject({
      providerId: kvStore.credentials?.runtimeId,
      endpointUrl: `/services/kv/${kvStore.credentials?.runtimeId}`,
    });
  });

  it("is DEGRADED while a required service is missing, HEALTHY once it is there", async () => {
    const host = await fakeHost();
    const caller = testPlugin({ selfId: "kv-app", services: [], requires: [{ type: "kv" }] });
    expect(caller.health).toEqual({
      state: HealthState.DEGRADED,
      reason: "waiting for required services: kv",
      unavailableDependencies: ["kv"],
    });
    await caller.join(host.url);
    await provider(host);
    await expect.poll(() => caller.health.state).toBe(HealthState.HEALTHY);
    await expect
      .poll(() =>
        host.reports.filter((r) => r.runtimeId === "kv-app-1").map((r) => r.message.state),
      )
      .toContain(HealthState.HEALTHY);
  });
});

describe("serving", () => {
  it("listens on 127.0.0.1 by default and serves its services", async () => {
    const plugin = testPlugin();
    expect(plugin.url).toBeUndefined();
    const { url, port } = await plugin.listen();
    expect(url).toBe(`http://127.0.0.1:${port}`);
    expect(plugin.url).toBe(url);
    const kv = createClient(
      KVService,
      createConnectTransport({ baseUrl: url, httpVersion: "1.1", useBinaryFormat: true }),
    );
    expect(await kv.get({ key: "hello" })).toMatchObject({ value: "hello", found: true });
  });

  it("serves in memory through routes", async () => {
    const kv = createClient(KVService, createRouterTransport(testPlugin().routes));
    expect((await kv.get({ key: "in memory" })).value).toBe("in memory");
  });

  it("refuses to listen twice", async () => {
    const plugin = testPlugin();
    const { url } = await plugin.listen();
    const error = await pluginErrorOf(plugin.listen());
    expect([error?.code, error?.message]).toEqual([
      "invalid_config",
      `the plugin already listens on ${url}`,
    ]);
  });

  it("refuses to listen or join once closed", async () => {
    const plugin = testPlugin();
    await plugin.close();
    for (const attempt of [plugin.listen(), plugin.join("http://127.0.0.1:1")]) {
      const error = await pluginErrorOf(attempt);
      expect([error?.code, error?.message]).toEqual(["closed", "the plugin has been closed"]);
    }
  });

  it("close() lets a call in flight finish, then stops listening", async () => {
    let entered!: () => void;
    const enteredP = new Promise<void>((r) => {
      entered = r;
    });
    let release!: () => void;
    const released = new Promise<void>((r) => {
      release = r;
    });
    const plugin = testPlugin({
      services: [
        provide(KVService, {
          async get(req) {
            entered();
            await released;
            return { value: req.key, found: true };
          },
        }),
      ],
    });
    const { url } = await plugin.listen();
    const kv = createClient(
      KVService,
      createConnectTransport({ baseUrl: url, httpVersion: "1.1", useBinaryFormat: true }),
    );
    const call = kv.get({ key: "in flight" });
    await enteredP;
    const closing = plugin.close(10_000);
    release();
    expect((await call).value).toBe("in flight");
    await closing;
    await expect(kv.get({ key: "late" })).rejects.toMatchObject({ code: Code.Unavailable });
  });

  it('refuses calls that arrive while closing with unavailable "plugin is shutting down"', async () => {
    let entered!: () => void;
    const enteredP = new Promise<void>((r) => {
      entered = r;
    });
    let release!: () => void;
    const released = new Promise<void>((r) => {
      release = r;
    });
    const plugin = testPlugin({
      services: [
        provide(KVService, {
          async get(req) {
            if (req.key === "slow") {
              entered();
              await released;
            }
            return { value: req.key, found: true };
          },
        }),
      ],
    });
    // Mounted in the application's own server, which close() does not stop.
    const server = await listenOnFreePort(http.createServer(plugin.handler));
    cleanup.push(() => server.close());
    const kv = createClient(
      KVService,
      createConnectTransport({ baseUrl: server.url, httpVersion: "1.1", useBinaryFormat: true }),
    );
    const slow = kv.get({ key: "slow" });
    await enteredP;
    const closing = plugin.close(10_000);
    await expect(kv.get({ key: "late" })).rejects.toMatchObject({
      code: Code.Unavailable,
      rawMessage: "plugin is shutting down",
    });
    release();
    expect((await slow).value).toBe("slow");
    await closing;
  });

  it("close() is idempotent", async () => {
    const plugin = testPlugin();
    await plugin.listen();
    const first = plugin.close();
    expect(plugin.close()).toBe(first);
    await first;
  });
});
