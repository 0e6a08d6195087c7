import * as http from "node:http";
import { createClient } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { createPlugin, type Plugin, provide, silentLogger } from "@cpg/plugin-sdk";
import { HealthState, Logger, PluginLifecycle } from "@cpg/protocol";
import { listenOnFreePort } from "@cpg/test-utils";
import { afterEach, describe, expect, it } from "vitest";
import type { HostEvent } from "../events/host-event.js";
import type { Host } from "../host.js";
import { testHost } from "../test-support/test-host.js";

let host: Host | undefined;
let plugin: Plugin | undefined;
afterEach(async () => {
  await plugin?.close(100);
  await host?.close();
  plugin = undefined;
  host = undefined;
});

function testPlugin(options: { refreshAfter?: number } = {}) {
  return createPlugin({
    selfId: "echo",
    version: "1.0.0",
    services: [provide(Logger, { log: () => ({}) })],
    logger: silentLogger,
    ...options,
  });
}

function nextEvent(h: Host, match: (e: HostEvent) => boolean): Promise<HostEvent> {
  return new Promise((resolve) => {
    const off = h.events.subscribe((e) => {
      if (match(e)) {
        off();
        resolve(e);
      }
    });
  });
}

describe("plugin SDK against a cpg host", () => {
  it("joins in memory, reports health, and its calls are authenticated", async () => {
    host = testHost();
    plugin = testPlugin();
    const healthy = nextEvent(
      host,
      (e) => e.type === "health.changed" && e.state === HealthState.HEALTHY,
    );
    const creds = await plugin.joinWith("memory://host", (interceptors) =>
      host!.createInMemoryTransport({ interceptors }),
    );
    expect(creds.runtimeId).toMatch(/^echo-[0-9a-f]{16}$/);
    expect(await healthy).toMatchObject({ runtimeId: creds.runtimeId });
    await plugin.setHealth({ state: HealthState.DEGRADED, reason: "warming up" });
    expect(host.health.get(creds.runtimeId)).toMatchObject({
      state: HealthState.DEGRADED,
      reason: "warming up",
    });
  });

  it("refreshes its token before it expires, keeping its runtime id", async () => {
    host = testHost({ runtimeTokenTtlMs: 400 });
    plugin = testPlugin({ refreshAfter: 0.5 });
    const creds = await plugin.joinWith("memory://host", (interceptors) =>
      host!.createInMemoryTransport({ interceptors }),
    );
    const refreshedOnPlugin = new Promise<void>((resolve) =>
      plugin!.identityChanges.subscribe(() => resolve()),
    );
    const refreshed = await nextEvent(host, (e) => e.type === "runtime.refreshed");
    expect(refreshed).toMatchObject({ runtimeId: creds.runtimeId });
    await refreshedOnPlugin;
    expect(plugin.credentials?.runtimeId).toBe(creds.runtimeId);
    expect(plugin.credentials?.token).not.toBe(creds.token);
  });

  it("handshakes again by itself after an unauthenticated answer", async () => {
    host = testHost();
    plugin = testPlugin();
    const first = await plugin.joinWith("memory://host", (interceptors) =>
      host!.createInMemoryTransport({ interceptors }),
    );
    host.identities.revoke(first.runtimeId);
    const changed = new Promise<string>((resolve) =>
      plugin!.identityChanges.subscribe(({ current }) => resolve(current.runtimeId)),
    );
    // The next host call fails with unauthenticated, recovers, and is retried once.
    await createClient(PluginLifecycle, plugin.hostTransport).reportHealth({
      state: HealthState.HEALTHY,
    });
    const second = await changed;
    expect(second).not.toBe(first.runtimeId);
    expect(host.health.get(second)?.state).toBe(HealthState.HEALTHY);
  });

  it("joins a host that speaks only HTTP/1.1, as Go hosts do", async () => {
    host = testHost();
    // A bare HTTP/1.1 server: any HTTP/2 attempt would fail here.
    const server = await listenOnFreePort(
      http.createServer(
        connectNodeAdapter({ routes: host.routes, interceptors: [...host.interceptors] }),
      ),
    );
    try {
      plugin = testPlugin();
      const creds = await plugin.join(server.url);
      expect(host.identities.get(creds.runtimeId)?.selfId).toBe("echo");
    } finally {
      await plugin?.close(100);
      plugin = undefined;
      await server.close();
    }
  });
});
