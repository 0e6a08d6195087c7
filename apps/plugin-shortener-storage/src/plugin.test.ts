import { Code, ConnectError } from "@connectrpc/connect";
import { LinkStoreService } from "@cpg/examples-proto";
import { createHost, type Host } from "@cpg/host";
import { createPlugin, type Plugin, silentLogger } from "@cpg/plugin-sdk";
import { waitFor } from "@cpg/test-utils";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createLinkStore, type LinkStore } from "./link-store.js";
import { linkStorePluginOptions } from "./plugin.js";

let host: Host;
let lines: Array<Record<string, unknown>>;
let links: LinkStore;
let storage: Plugin;
let caller: Plugin;

beforeEach(async () => {
  lines = [];
  const record = (msg: string, fields?: Record<string, unknown>) => lines.push({ msg, ...fields });
  host = createHost({
    logger: { debug: record, info: record, warn: record, error: record },
    rateLimits: false,
  });
  const { url } = await host.listen();
  links = createLinkStore();
  const options = linkStorePluginOptions({ store: links, logger: silentLogger });
  storage = createPlugin(options);
  options.attach(storage);
  await storage.listen();
  await storage.join(url);
  caller = createPlugin({ selfId: "links-caller", version: "1.0.0", logger: silentLogger });
  await caller.join(url);
  await waitFor(() => host.registry.providers("links").length === 1, {
    description: "links registered",
  });
});

afterEach(async () => {
  await caller.close();
  await storage.close();
  await host.close();
});

async function failure(promise: Promise<unknown>): Promise<ConnectError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ConnectError);
  return error as ConnectError;
}

describe("the link storage plugin, through a host", () => {
  it("saves and loads links, and logs each save on the host as itself", async () => {
    const store = caller.client(LinkStoreService, { type: "links" });
    await store.save({ code: "abc123", url: "https://example.com/a" });
    expect(await store.load({ code: "abc123" })).toMatchObject({
      url: "https://example.com/a",
      found: true,
    });
    expect(await store.load({ code: "zzz" })).toMatchObject({ url: "", found: false });
    expect(lines.filter((l) => l.msg === "saved")).toEqual([
      expect.objectContaining({
        code: "abc123",
        url: "https://example.com/a",
        plugin_self_id: "shortener-storage",
        plugin_runtime_id: storage.credentials!.runtimeId,
        source: "plugin",
      }),
    ]);
    // Saving the same link again changes nothing and logs nothing.
    await store.save({ code: "abc123", url: "https://example.com/a" });
    expect(lines.filter((l) => l.msg === "saved")).toHaveLength(1);
  });

  it("refuses a code that holds another URL with already_exists", async () => {
    const store = caller.client(LinkStoreService, { type: "links" });
    await store.save({ code: "taken", url: "https://example.com/1" });
    const error = await failure(store.save({ code: "taken", url: "https://example.com/2" }));
    expect(error.code).toBe(Code.AlreadyExists);
    expect(error.rawMessage).toBe('code "taken" is taken');
    expect(links.load("taken")).toBe("https://example.com/1");
  });

  it("refuses malformed codes and URLs with invalid_argument", async () => {
    const store = caller.client(LinkStoreService, { type: "links" });
    const badCode = await failure(store.load({ code: "a/b" }));
    expect(badCode.code).toBe(Code.InvalidArgument);
    expect(badCode.rawMessage).toBe('code "a/b" must be 1 to 32 letters and digits');
    const noUrl = await failure(store.save({ code: "abc", url: "" }));
    expect(noUrl.code).toBe(Code.InvalidArgument);
    expect(noUrl.rawMessage).toBe("url must be 1 to 2048 bytes, got 0");
  });
});
