import { Code, ConnectError } from "@connectrpc/connect";
import {
  createLinkStore,
  type LinkStore,
  linkStorePluginOptions,
} from "@cpg/demo-plugin-shortener-storage";
import { ShortenerService } from "@cpg/examples-proto";
import { createHost, type Host } from "@cpg/host";
import { createPlugin, type Plugin, silentLogger } from "@cpg/plugin-sdk";
import { waitFor } from "@cpg/test-utils";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type ShortenerPluginSettings, shortenerPluginOptions } from "./plugin.js";

let host: Host;
let hostUrl: string;
let lines: Array<Record<string, unknown>>;
let links: LinkStore;
let storage: Plugin;
let api: Plugin | undefined;
let caller: Plugin;

beforeEach(async () => {
  lines = [];
  const record = (msg: string, fields?: Record<string, unknown>) => lines.push({ msg, ...fields });
  host = createHost({
    logger: { debug: record, info: record, warn: record, error: record },
    rateLimits: false,
  });
  ({ url: hostUrl } = await host.listen());
  links = createLinkStore();
  const options = linkStorePluginOptions({ store: links, logger: silentLogger });
  storage = createPlugin(options);
  options.attach(storage);
  await storage.listen();
  await storage.join(hostUrl);
  caller = createPlugin({ selfId: "web", version: "1.0.0", logger: silentLogger });
  await caller.join(hostUrl);
});

afterEach(async () => {
  await caller.close();
  await api?.close();
  api = undefined;
  await storage.close();
  await host.close();
});

async function startApi(settings: ShortenerPluginSettings = {}) {
  const options = shortenerPluginOptions({ logger: silentLogger, ...settings });
  const plugin = createPlugin(options);
  api = plugin;
  options.attach(plugin);
  await plugin.listen();
  await plugin.join(hostUrl);
  await waitFor(
    () =>
      host.registry.providers("shortener").length === 1 &&
      host.registry.providers("links").length === 1,
    { description: "shortener and links registered" },
  );
  return caller.client(ShortenerService, { type: "shortener" });
}

async function failure(promise: Promise<unknown>): Promise<ConnectError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ConnectError);
  return error as ConnectError;
}

describe("the shortener, end to end: api -> links -> host logger", () => {
  it("shortens a URL, stores it through the links plugin and resolves it", async () => {
    const shortener = await startApi({ publicUrl: "https://sho.rt/" });
    const { code, shortUrl } = await shortener.shorten({ url: "https://example.com/docs?a=1" });
    expect(code).toMatch(/^[0-9A-Za-z]{7}$/);
    expect(shortUrl).toBe(`https://sho.rt/s/${code}`);
    expect(links.load(code)).toBe("https://example.com/docs?a=1");
    expect((await shortener.resolve({ code })).url).toBe("https://example.com/docs?a=1");

    // The storage plugin logged the save through the host's logger capability.
    expect(lines.filter((l) => l.msg === "saved")).toEqual([
      expect.objectContaining({
        code,
        url: "https://example.com/docs?a=1",
        plugin_self_id: "shortener-storage",
        plugin_runtime_id: storage.credentials!.runtimeId,
        source: "plugin",
      }),
    ]);
  });

  it("draws another code when the first one is taken", async () => {
    links.save("taken1", "https://example.com/old");
    const drawn = ["taken1", "fresh1"];
    const shortener = await startApi({ publicUrl: "", generateCode: () => drawn.shift()! });
    const res = await shortener.shorten({ url: "https://example.com/new" });
    expect(res.code).toBe("fresh1");
    expect(res.shortUrl).toBe("/s/fresh1");
    expect(links.load("taken1")).toBe("https://example.com/old");
    expect(links.load("fresh1")).toBe("https://example.com/new");
  });

  it("gives up with resource_exhausted when every code drawn is taken", async () => {
    links.save("same", "https://example.com/old");
    const shortener = await startApi({ generateCode: () => "same", maxAttempts: 3 });
    const error = await failure(shortener.shorten({ url: "https://example.com/new" }));
    expect(error.code).toBe(Code.ResourceExhausted);
    expect(error.rawMessage).toBe("no free short code after 3 attempts");
  });

  it("answers not_found for an unknown code and invalid_argument for a bad URL", async () => {
    const shortener = await startApi();
    const unknown = await failure(shortener.resolve({ code: "nope" }));
    expect(unknown.code).toBe(Code.NotFound);
    expect(unknown.rawMessage).toBe('no link with code "nope"');
    const relative = await failure(shortener.shorten({ url: "/just/a/path" }));
    expect(relative.code).toBe(Code.InvalidArgument);
    expect(relative.rawMessage).toBe('url "/just/a/path" is not an absolute URL');
    const ftp = await failure(shortener.shorten({ url: "ftp://example.com/f" }));
    expect(ftp.code).toBe(Code.InvalidArgument);
    expect(ftp.rawMessage).toBe('url must use http or https, got "ftp"');
    expect(links.size).toBe(0);
  });

  it("answers unavailable while no links provider is there", async () => {
    const shortener = await startApi();
    await storage.close();
    await waitFor(() => host.registry.providers("links").length === 0, {
      description: "links unregistered",
    });
    const shorten = await failure(shortener.shorten({ url: "https://example.com/" }));
    expect(shorten.code).toBe(Code.Unavailable);
    const resolve = await failure(shortener.resolve({ code: "abc" }));
    expect(resolve.code).toBe(Code.Unavailable);
    expect(resolve.rawMessage).toBe('no available provider of service type "links"');
  });
});
