import { createClient } from "@connectrpc/connect";
import { HealthState, PluginLifecycle, ServiceRegistry, ServiceState } from "@cpg/protocol";
import { afterEach, describe, expect, it } from "vitest";
import type { Host } from "../host.js";
import { joinInMemory, testHost } from "../test-support/test-host.js";
import { createServiceWatchHub } from "./service-watch.js";

let host: Host | undefined;
afterEach(() => host?.close());

async function setup() {
  host = testHost();
  const hub = createServiceWatchHub(host.registry, host.health, host.events);
  const provider = await joinInMemory(host, "kv-store");
  await createClient(ServiceRegistry, provider.transport).registerService({
    serviceType: "kv",
    version: "1.0.0",
    endpointPath: "/kv.v1.KV/",
    metadata: { base_url: "http://127.0.0.1:9" },
  });
  const lifecycle = createClient(PluginLifecycle, provider.transport);
  const report = (state: HealthState) => lifecycle.reportHealth({ state });
  return { hub, report };
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

describe("service watch hub", () => {
  it("yields the status now, then only changes, mapped, and the latest one to a slow reader", async () => {
    const { hub, report } = await setup();
    const iterator = hub
      .watch("kv", new AbortController().signal, (s) => ServiceState[s.state])
      [Symbol.asyncIterator]();
    expect(await iterator.next()).toEqual({ done: false, value: "AVAILABLE" });
    await report(HealthState.HEALTHY); // same status: nothing to yield
    await report(HealthState.DEGRADED);
    await report(HealthState.UNHEALTHY); // the reader was slow: it sees only the latest
    expect(await iterator.next()).toEqual({ done: false, value: "UNAVAILABLE" });
    const pending = iterator.next();
    await report(HealthState.HEALTHY);
    expect(await pending).toEqual({ done: false, value: "AVAILABLE" });
    expect(hub.size).toBe(1);
    await iterator.return?.();
    expect(hub.size).toBe(0);
  });

  it("ends a waiting reader when its signal aborts or it returns", async () => {
    const { hub } = await setup();
    const abort = new AbortController();
    const first = hub.watch("kv", abort.signal)[Symbol.asyncIterator]();
    const second = hub.watch("kv", new AbortController().signal)[Symbol.asyncIterator]();
    await first.next();
    await second.next();
    const firstWaiting = first.next();
    const secondWaiting = second.next();
    await tick();
    expect(hub.size).toBe(2);
    abort.abort();
    expect(await firstWaiting).toEqual({ done: true, value: undefined });
    void second.return?.();
    expect(await secondWaiting).toEqual({ done: true, value: undefined });
    expect(hub.size).toBe(0);
    expect(await first.next()).toEqual({ done: true, value: undefined });
  });

  it("fails the reader whose mapping throws, and forgets it", async () => {
    const { hub, report } = await setup();
    let calls = 0;
    const iterator = hub
      .watch("kv", new AbortController().signal, (s) => {
        if (++calls > 1) throw new Error("cannot encode");
        return s.state;
      })
      [Symbol.asyncIterator]();
    expect(await iterator.next()).toEqual({ done: false, value: ServiceState.AVAILABLE });
    const waiting = iterator.next();
    await report(HealthState.UNHEALTHY);
    await expect(waiting).rejects.toThrow("cannot encode");
    expect(hub.size).toBe(0);
  });
});
