import { Code, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import {
  bearer,
  CapabilityBroker,
  Logger as LoggerService,
  RUNTIME_ID_HEADER,
  storeV1,
} from "@cpg/protocol";
import { afterEach, describe, expect, it } from "vitest";
import type { Host } from "../host.js";
import type { HostOptions } from "../host-options.js";
import {
  handshakeClient,
  handshakeRequest,
  joinInMemory,
  manualClock,
  testHost,
} from "../test-support/test-host.js";

let host: Host;
afterEach(() => host?.close());

async function listening(options: HostOptions = {}) {
  host = testHost(options);
  const { url } = await host.listen();
  return url;
}

/** A plugin that joined over HTTP/1.1 with the Connect protocol and binary protobuf, as Go clients do. */
async function goStylePlugin(url: string, selfId: string) {
  const id = await handshakeClient(
    createConnectTransport({ baseUrl: url, httpVersion: "1.1", useBinaryFormat: true }),
  ).handshake(handshakeRequest({ selfId }));
  const transport = createConnectTransport({
    baseUrl: url,
    httpVersion: "1.1",
    useBinaryFormat: true,
    interceptors: [
      (next) => (req) => {
        req.header.set(RUNTIME_ID_HEADER, id.runtimeId);
        req.header.set("authorization", bearer(id.runtimeToken));
        return next(req);
      },
    ],
  });
  return { runtimeId: id.runtimeId, transport, broker: createClient(CapabilityBroker, transport) };
}

/** A client of a capability, authenticated with a grant, over Connect binary HTTP/1.1. */
function capabilityTransport(endpointUrl: string, grantToken: string, runtimeId?: string) {
  return createConnectTransport({
    baseUrl: endpointUrl,
    httpVersion: "1.1",
    useBinaryFormat: true,
    interceptors: [
      (next) => (req) => {
        req.header.set("authorization", bearer(grantToken));
        if (runtimeId) req.header.set(RUNTIME_ID_HEADER, runtimeId);
        return next(req);
      },
    ],
  });
}

describe("capability broker", () => {
  it("advertises the host capabilities in the handshake", async () => {
    const url = await listening();
    const res = await handshakeClient(
      createConnectTransport({ baseUrl: url, httpVersion: "1.1" }),
    ).handshake(handshakeRequest());
    expect(res.hostCapabilities.map((c) => [c.type, c.version, c.endpoint])).toEqual([
      ["logger", "1.0.0", `${url}/broker`],
      ["store", "1.0.0", `${url}/broker`],
    ]);
  });

  it("lets a Go-style client request a grant and call the logger", async () => {
    const lines: string[] = [];
    const url = await listening({
      logger: {
        debug() {},
        info: (msg, fields) => lines.push(JSON.stringify({ msg, ...fields })),
        warn() {},
        error() {},
      },
    });
    const plugin = await goStylePlugin(url, "billing");
    const { grant } = await plugin.broker.requestCapability({
      capabilityType: "logger",
      reason: "audit trail",
    });
    expect(grant?.endpointUrl).toBe(`${url}/capabilities/logger/${grant?.grantId}`);
    expect(grant?.version).toBe("1.0.0");
    const logger = createClient(
      LoggerService,
      capabilityTransport(grant!.endpointUrl, grant!.bearerToken),
    );
    await logger.log({ level: "info", message: "invoice sent", fields: { invoice: "42" } });
    const line = lines.map((l) => JSON.parse(l)).find((l) => l.msg === "invoice sent");
    expect(line).toMatchObject({
      invoice: "42",
      plugin_self_id: "billing",
      plugin_runtime_id: plugin.runtimeId,
    });
    await expect(logger.log({ level: "shout", message: "x" })).rejects.toMatchObject({
      code: Code.InvalidArgument,
    });
  });

  it("is reachable under the /broker prefix that Go advertises", async () => {
    const url = await listening();
    const plugin = await goStylePlugin(url, "billing");
    const prefixed = createConnectTransport({
      baseUrl: `${url}/broker`,
      httpVersion: "1.1",
      useBinaryFormat: true,
      interceptors: [
        (next) => (req) => {
          req.header.set(RUNTIME_ID_HEADER, plugin.runtimeId);
          return next(req);
        },
      ],
    });
    // Unauthenticated there too.
    await expect(
      createClient(CapabilityBroker, prefixed).requestCapability({ capabilityType: "logger" }),
    ).rejects.toMatchObject({ code: Code.Unauthenticated });
  });

  it("refuses unknown capabilities, too-new min_version and denied plugins", async () => {
    const url = await listening({
      profile: "production",
      allowInsecure: true,
      policies: { capabilities: { billing: ["logger"] } },
    });
    const billing = await goStylePlugin(url, "billing");
    await expect(
      billing.broker.requestCapability({ capabilityType: "secrets" }),
    ).rejects.toMatchObject({
      code: Code.NotFound,
      rawMessage: 'no capability "secrets" on this host',
    });
    await expect(
      billing.broker.requestCapability({ capabilityType: "logger", minVersion: "2.0.0" }),
    ).rejects.toMatchObject({ code: Code.FailedPrecondition });
    expect(
      (await billing.broker.requestCapability({ capabilityType: "logger", minVersion: "1.0.0" }))
        .grant,
    ).toBeDefined();
    await expect(
      billing.broker.requestCapability({ capabilityType: "store" }),
    ).rejects.toMatchObject({
      code: Code.PermissionDenied,
      rawMessage: 'plugin "billing" may not use capability "store"',
    });
  });

  it("rejects a grant used by another runtime, or for another capability type", async () => {
    const url = await listening();
    const owner = await goStylePlugin(url, "owner");
    const thief = await goStylePlugin(url, "thief");
    const { grant } = await owner.broker.requestCapability({ capabilityType: "logger" });
    const stolen = createClient(
      LoggerService,
      capabilityTransport(grant!.endpointUrl, grant!.bearerToken, thief.runtimeId),
    );
    await expect(stolen.log({ message: "x" })).rejects.toMatchObject({
      code: Code.PermissionDenied,
      rawMessage: "this capability grant belongs to another plugin",
    });
    const wrongType = createClient(
      storeV1.StoreService,
      capabilityTransport(`${url}/capabilities/store/${grant!.grantId}`, grant!.bearerToken),
    );
    await expect(wrongType.get({ key: "k" })).rejects.toMatchObject({
      code: Code.PermissionDenied,
    });
    const forged = createClient(
      LoggerService,
      capabilityTransport(grant!.endpointUrl, "forged-token"),
    );
    await expect(forged.log({ message: "x" })).rejects.toMatchObject({
      code: Code.Unauthenticated,
    });
  });

  it("rejects an expired grant (TTL enforced)", async () => {
    const clock = manualClock(Date.now());
    const url = await listening({ now: clock.now, grantTtlMs: 60_000 });
    const plugin = await goStylePlugin(url, "billing");
    const { grant } = await plugin.broker.requestCapability({ capabilityType: "logger" });
    expect(Number(grant!.expiresUnixMs)).toBe(clock.now() + 60_000);
    const logger = createClient(
      LoggerService,
      capabilityTransport(grant!.endpointUrl, grant!.bearerToken),
    );
    await logger.log({ message: "before" });
    clock.advance(60_000);
    await expect(logger.log({ message: "after" })).rejects.toMatchObject({
      code: Code.Unauthenticated,
    });
  });

  it("rejects a revoked grant at once, and revokes a runtime's grants when its identity ends", async () => {
    const url = await listening();
    const plugin = await goStylePlugin(url, "billing");
    const a = (await plugin.broker.requestCapability({ capabilityType: "logger" })).grant!;
    const b = (await plugin.broker.requestCapability({ capabilityType: "store" })).grant!;
    const logger = createClient(LoggerService, capabilityTransport(a.endpointUrl, a.bearerToken));
    await logger.log({ message: "ok" });
    expect(host.grants.revoke(a.grantId)).toBe(true);
    await expect(logger.log({ message: "revoked" })).rejects.toMatchObject({
      code: Code.Unauthenticated,
    });
    expect(host.grants.get(b.grantId)).toBeDefined();
    host.identities.revoke(plugin.runtimeId);
    expect(host.grants.get(b.grantId)).toBeUndefined();
  });

  it("runs capability calls concurrently: a slow call does not block another", async () => {
    const url = await listening();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    host.capabilities.register({
      type: "slow",
      version: "1.0.0",
      service: LoggerService,
      implementation: {
        async log(req) {
          if (req.message === "slow") await gate;
          return {};
        },
      },
    });
    const plugin = await goStylePlugin(url, "billing");
    const { grant } = await plugin.broker.requestCapability({ capabilityType: "slow" });
    const client = createClient(
      LoggerService,
      capabilityTransport(grant!.endpointUrl, grant!.bearerToken),
    );
    const slow = client.log({ message: "slow" });
    let slowDone = false;
    void slow.then(() => {
      slowDone = true;
    });
    await client.log({ message: "fast" });
    expect(slowDone).toBe(false);
    release();
    await slow;
  });

  it("scopes the store to each plugin", async () => {
    const url = await listening();
    const store = async (selfId: string) => {
      const p = await goStylePlugin(url, selfId);
      const { grant } = await p.broker.requestCapability({ capabilityType: "store" });
      return createClient(
        storeV1.StoreService,
        capabilityTransport(grant!.endpointUrl, grant!.bearerToken),
      );
    };
    const a = await store("plugin-a");
    const b = await store("plugin-b");
    await a.put({ key: "secret", value: new TextEncoder().encode("a's") });
    expect(await b.get({ key: "secret" })).toMatchObject({ found: false });
    expect((await b.list({ prefix: "" })).keys).toEqual([]);
    expect(new TextDecoder().decode((await a.get({ key: "secret" })).value)).toBe("a's");
    await b.put({ key: "secret", value: new TextEncoder().encode("b's") });
    expect(new TextDecoder().decode((await a.get({ key: "secret" })).value)).toBe("a's");
    expect((await a.delete({ key: "secret" })).found).toBe(true);
    expect((await b.get({ key: "secret" })).found).toBe(true);
    await expect(a.put({ key: "", value: new Uint8Array() })).rejects.toMatchObject({
      code: Code.InvalidArgument,
    });
  });

  it("needs a runtime identity to request a capability", async () => {
    host = testHost();
    const anon = createClient(CapabilityBroker, host.createInMemoryTransport());
    await expect(anon.requestCapability({ capabilityType: "logger" })).rejects.toMatchObject({
      code: Code.Unauthenticated,
    });
    const p = await joinInMemory(host, "in-memory");
    const { grant } = await createClient(CapabilityBroker, p.transport).requestCapability({
      capabilityType: "logger",
    });
    expect(grant?.endpointUrl).toMatch(/^\/capabilities\/logger\/grant-/);
  });
});
