import { EchoService } from "@cpg/examples-proto";
import { createPlugin, type Plugin, provide, silentLogger } from "@cpg/plugin-sdk";
import { HealthState, ServiceState } from "@cpg/protocol";
import { waitFor } from "@cpg/test-utils";
import { afterEach, describe, expect, it } from "vitest";
import type { Host } from "../host.js";
import { testHost } from "../test-support/test-host.js";

const plugins: Plugin[] = [];
let host: Host | undefined;
afterEach(async () => {
  for (const p of plugins.splice(0).reverse()) await p.close(100);
  await host?.close();
});

function plugin(options: Parameters<typeof createPlugin>[0]) {
  const p = createPlugin({ logger: silentLogger, ...options });
  plugins.push(p);
  return p;
}

const echoProvider = () =>
  plugin({
    selfId: "echo-provider",
    version: "2.1.0",
    services: [provide(EchoService, { echo: (req) => ({ message: req.message }) })],
  });

describe("plugin SDK services through a host", () => {
  it("registers its declared services by itself, with base_url and http2", async () => {
    host = testHost();
    const { url } = await host.listen();
    const p = echoProvider();
    const { url: pluginUrl } = await p.listen();
    const creds = await p.join(url);
    await waitFor(() => host!.registry.providers("echo").length === 1, {
      description: "registration",
    });
    const [registration] = host.registry.providers("echo");
    expect(registration).toMatchObject({
      runtimeId: creds.runtimeId,
      version: "2.1.0",
      endpointPath: "/cpg.examples.v1.EchoService/",
      baseUrl: pluginUrl,
      http2: true,
    });
    await waitFor(() => p.registrations.get("echo") === registration!.id, {
      description: "registration id",
    });
    // Closing unregisters.
    await p.close(100);
    expect(host.registry.providers("echo")).toEqual([]);
  });

  it("is DEGRADED while a required service is missing, HEALTHY once it is there", async () => {
    host = testHost();
    const { url } = await host.listen();
    const cache = plugin({ selfId: "cache", version: "1.0.0", requires: [{ type: "echo" }] });
    const creds = await cache.join(url);
    await waitFor(() => host!.health.get(creds.runtimeId)?.state === HealthState.DEGRADED, {
      description: "cache degraded",
    });
    expect(host.health.get(creds.runtimeId)).toMatchObject({
      reason: "waiting for required services: echo",
      unavailableDependencies: ["echo"],
    });
    const provider = echoProvider();
    await provider.listen();
    await provider.join(url);
    await waitFor(() => host!.health.get(creds.runtimeId)?.state === HealthState.HEALTHY, {
      description: "cache healthy",
    });
    expect(cache.health.unavailableDependencies).toEqual([]);
    await provider.close(100);
    await waitFor(() => host!.health.get(creds.runtimeId)?.state === HealthState.DEGRADED, {
      description: "cache degraded again",
    });
  });

  it("discovers and watches through async iterables", async () => {
    host = testHost();
    const { url } = await host.listen();
    const watcher = plugin({ selfId: "watcher", version: "1.0.0" });
    await watcher.join(url);
    const abort = new AbortController();
    const states: ServiceState[] = [];
    const watching = (async () => {
      for await (const event of watcher.watch("echo", abort.signal)) states.push(event.state);
    })().catch(() => {});
    await waitFor(() => states.length === 1, { description: "first watch event" });
    const provider = echoProvider();
    await provider.listen();
    const providerCreds = await provider.join(url);
    await waitFor(() => states.length === 2, { description: "second watch event" });
    const found = await watcher.discover("echo", "2.0.0");
    expect(found.endpoint?.providerId).toBe(providerCreds.runtimeId);
    abort.abort();
    await watching;
    expect(states).toEqual([ServiceState.UNAVAILABLE, ServiceState.AVAILABLE]);
  });
});
