import { createPlugin, type Plugin, silentLogger } from "@cpg/plugin-sdk";
import { Logger as LoggerService, storeV1 } from "@cpg/protocol";
import { afterEach, describe, expect, it } from "vitest";
import type { Host } from "../host.js";
import { manualClock, testHost } from "../test-support/test-host.js";

let host: Host | undefined;
let plugin: Plugin | undefined;
afterEach(async () => {
  await plugin?.close(100);
  await host?.close();
});

function recordingHost(options: Parameters<typeof testHost>[0] = {}) {
  const lines: Array<Record<string, unknown>> = [];
  const record = (msg: string, fields?: Record<string, unknown>) => lines.push({ msg, ...fields });
  host = testHost({
    logger: { debug: record, info: record, warn: record, error: record },
    ...options,
  });
  return lines;
}

describe("plugin SDK capability clients", () => {
  it("requests a grant on first use and logs through the host, attributed to the plugin", async () => {
    const lines = recordingHost();
    const { url } = await host!.listen();
    plugin = createPlugin({ selfId: "billing", version: "1.0.0", logger: silentLogger });
    const creds = await plugin.join(url);
    const logger = plugin.capability(LoggerService);
    expect(host!.grants.size).toBe(0);
    await logger.log({ level: "warn", message: "card declined", fields: { order: "7" } });
    await logger.log({ message: "second" });
    expect(host!.grants.size).toBe(1);
    expect(lines.find((l) => l.msg === "card declined")).toMatchObject({
      order: "7",
      plugin_self_id: "billing",
      plugin_runtime_id: creds.runtimeId,
    });
  });

  it("gets a new grant after the old one is revoked, retrying the call once", async () => {
    recordingHost();
    const { url } = await host!.listen();
    plugin = createPlugin({ selfId: "billing", version: "1.0.0", logger: silentLogger });
    await plugin.join(url);
    const store = plugin.capability(storeV1.StoreService);
    await store.put({ key: "k", value: new TextEncoder().encode("v") });
    const [first] = host!.grants.list();
    host!.grants.revoke(first!.grantId);
    expect((await store.get({ key: "k" })).found).toBe(true);
    const [second] = host!.grants.list();
    expect(second!.grantId).not.toBe(first!.grantId);
  });

  it("renews a grant before it expires", async () => {
    const clock = manualClock(Date.now());
    recordingHost({ grantTtlMs: 10_000, now: clock.now });
    const { url } = await host!.listen();
    plugin = createPlugin({
      selfId: "billing",
      version: "1.0.0",
      logger: silentLogger,
      now: clock.now,
    });
    await plugin.join(url);
    const logger = plugin.capability(LoggerService);
    await logger.log({ message: "one" });
    const [first] = host!.grants.list();
    clock.advance(7_000);
    await logger.log({ message: "still the same grant" });
    expect(host!.grants.list().map((g) => g.grantId)).toEqual([first!.grantId]);
    // Past 80% of the lifetime, the next call takes a fresh grant first.
    clock.advance(1_500);
    await logger.log({ message: "renewed" });
    const ids = host!.grants.list().map((g) => g.grantId);
    expect(ids).toHaveLength(2);
    expect(ids[0]).toBe(first!.grantId);
  });
});
