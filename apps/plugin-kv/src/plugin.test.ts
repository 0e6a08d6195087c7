import { Code, ConnectError } from "@connectrpc/connect";
import { KVService } from "@cpg/examples-proto";
import { createHost, type Host } from "@cpg/host";
import { createPlugin, type Plugin, silentLogger } from "@cpg/plugin-sdk";
import { waitFor } from "@cpg/test-utils";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createKvStore, type KvStore } from "./kv-store.js";
import { kvPluginOptions } from "./plugin.js";

let host: Host;
let store: KvStore;
let kvPlugin: Plugin;
let caller: Plugin;

beforeEach(async () => {
  host = createHost({ logger: silentLogger, rateLimits: false });
  const { url } = await host.listen();
  store = createKvStore();
  kvPlugin = createPlugin(kvPluginOptions({ store, logger: silentLogger }));
  await kvPlugin.listen();
  await kvPlugin.join(url);
  caller = createPlugin({ selfId: "kv-caller", version: "1.0.0", logger: silentLogger });
  await caller.join(url);
  await waitFor(() => host.registry.providers("kv").length === 1, {
    description: "kv registered",
  });
});

afterEach(async () => {
  store.close();
  await caller.close();
  await kvPlugin.close();
  await host.close();
});

describe("the kv plugin, through a host", () => {
  it("declares KVService as type kv", () => {
    expect(kvPlugin.declarations.map((d) => [d.type, d.path])).toEqual([
      ["kv", "/cpg.examples.v1.KVService/"],
    ]);
    expect(host.registry.providers("kv")[0]?.selfId).toBe("kv-store");
  });

  it("gets, puts and deletes keys", async () => {
    const kv = caller.client(KVService, { type: "kv" });
    expect(await kv.get({ key: "greeting" })).toMatchObject({ value: "", found: false });
    await kv.put({ key: "greeting", value: "hello" });
    expect(await kv.get({ key: "greeting" })).toMatchObject({ value: "hello", found: true });
    expect(store.get("greeting")).toEqual({ value: "hello", found: true });
    expect((await kv.delete({ key: "greeting" })).found).toBe(true);
    expect((await kv.delete({ key: "greeting" })).found).toBe(false);
    expect((await kv.get({ key: "greeting" })).found).toBe(false);
  });

  it("refuses an empty key", async () => {
    const kv = caller.client(KVService, { type: "kv" });
    const error = await kv.put({ key: "", value: "x" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConnectError);
    expect((error as ConnectError).code).toBe(Code.InvalidArgument);
    expect((error as ConnectError).rawMessage).toBe("key must not be empty");
  });

  it("streams changes of watched keys as they happen, until the caller goes away", async () => {
    const kv = caller.client(KVService, { type: "kv" });
    const ac = new AbortController();
    const changes = kv.watch({ prefix: "user/" }, { signal: ac.signal })[Symbol.asyncIterator]();
    const first = changes.next();
    await waitFor(() => store.watcherCount === 1, { description: "watch registered" });

    await kv.put({ key: "order/1", value: "ignored" });
    await kv.put({ key: "user/1", value: "ada" });
    expect((await first).value).toMatchObject({ key: "user/1", value: "ada", deleted: false });
    await kv.delete({ key: "user/1" });
    expect((await changes.next()).value).toMatchObject({
      key: "user/1",
      value: "",
      deleted: true,
    });

    ac.abort();
    await waitFor(() => store.watcherCount === 0, { description: "watch ended on the kv side" });
  });
});
