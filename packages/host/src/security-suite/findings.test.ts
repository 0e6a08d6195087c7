import { createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { EchoService } from "@cpg/examples-proto";
import { createPlugin, type Logger, type Plugin, provide, silentLogger } from "@cpg/plugin-sdk";
import {
  bearer,
  HealthState,
  MAGIC_COOKIE_KEY,
  MAGIC_COOKIE_VALUE,
  RUNTIME_ID_HEADER,
} from "@cpg/protocol";
import { waitFor } from "@cpg/test-utils";
import { afterEach, describe, expect, it } from "vitest";
import type { Host } from "../host.js";
import type { Registration } from "../registry/registration.js";
import { createSelector } from "../registry/selection-strategy.js";
import { handshakeClient, handshakeRequest, testHost } from "../test-support/test-host.js";
import { ALL_PROCEDURES, rawCall } from "./support.js";

// Audit findings that had no test of their own elsewhere.

let host: Host | undefined;
const plugins: Plugin[] = [];
afterEach(async () => {
  for (const p of plugins.splice(0)) await p.close(100);
  await host?.close();
  host = undefined;
});

describe("PROTO-HIGH-002 / C-1: the magic cookie is not a credential", () => {
  it("knowing the (public) magic cookie gives access to nothing but the handshake", async () => {
    host = testHost();
    const { url } = await host.listen();
    // The cookie is a published constant of @cpg/protocol, i.e. known to everyone.
    const cookieHeaders = {
      [MAGIC_COOKIE_KEY]: MAGIC_COOKIE_VALUE,
      authorization: bearer(MAGIC_COOKIE_VALUE),
    };
    for (const proc of ALL_PROCEDURES) {
      if (proc.method === "Handshake") continue;
      const r = await rawCall(url, proc, new Uint8Array(), cookieHeaders, 5000, "", 500);
      expect([proc.method, r.code]).toEqual([proc.method, "unauthenticated"]);
    }
    // The handshake with the right cookie yields an identity only through the
    // handshake's own checks (replay protection, self_id); the cookie alone is
    // just a misconfiguration check.
    const res = await handshakeClient(
      createConnectTransport({ baseUrl: url, httpVersion: "1.1" }),
    ).handshake(handshakeRequest({ selfId: "" }));
    expect(res.runtimeId).toBe("");
    expect(res.runtimeToken).toBe("");
  });
});

describe("H-3: the router never logs tokens or payloads", () => {
  it("at every level, for successful and refused calls", async () => {
    const lines: string[] = [];
    const capture: Logger = {
      debug: (msg, fields) => lines.push(JSON.stringify({ level: "debug", msg, ...fields })),
      info: (msg, fields) => lines.push(JSON.stringify({ level: "info", msg, ...fields })),
      warn: (msg, fields) => lines.push(JSON.stringify({ level: "warn", msg, ...fields })),
      error: (msg, fields) => lines.push(JSON.stringify({ level: "error", msg, ...fields })),
    };
    host = testHost({ logger: capture });
    const { url } = await host.listen();
    const provider = createPlugin({
      selfId: "echo-provider",
      version: "1.0.0",
      services: [provide(EchoService, { echo: (req) => ({ message: req.message }) })],
      logger: silentLogger,
    });
    plugins.push(provider);
    await provider.listen();
    await provider.join(url);
    const caller = createPlugin({
      selfId: "echo-caller",
      version: "1.0.0",
      requires: [{ type: "echo" }],
      logger: silentLogger,
    });
    plugins.push(caller);
    await caller.join(url);
    const h = host;
    await waitFor(() => h.registry.providers("echo").length === 1, {
      description: "echo registered",
    });
    const providerId = provider.credentials!.runtimeId;
    const token = caller.credentials!.token;
    const secretPayload = "payload-secret-4f9c2a";
    const withCredentials =
      (t: string): Interceptor =>
      (next) =>
      (req) => {
        req.header.set(RUNTIME_ID_HEADER, caller.credentials!.runtimeId);
        req.header.set("authorization", bearer(t));
        return next(req);
      };
    const client = (t: string) =>
      createClient(
        EchoService,
        createConnectTransport({
          baseUrl: `${url}/services/echo/${providerId}`,
          httpVersion: "2",
          interceptors: [withCredentials(t)],
        }),
      );
    expect((await client(token).echo({ message: secretPayload })).message).toBe(secretPayload);
    const wrong = `${token.slice(0, -1)}${token.endsWith("A") ? "B" : "A"}`;
    await expect(client(wrong).echo({ message: secretPayload })).rejects.toMatchObject({
      rawMessage: "invalid, expired or revoked runtime token",
    });
    const all = lines.join("\n");
    expect(lines.length).toBeGreaterThan(0);
    expect(all).not.toContain(token);
    expect(all).not.toContain(wrong);
    expect(all).not.toContain(provider.credentials!.token);
    expect(all).not.toContain(secretPayload);
  });
});

describe("M-2: round-robin selection never overflows and stays exact", () => {
  // The counter is kept modulo 2^31-1 (selection-strategy.ts), so it cannot
  // grow without bound; this checks the rotation stays exact as the list changes.
  it("rotates exactly over many picks while the provider list changes", () => {
    const reg = (i: number) => ({ id: `r${i}`, runtimeId: `p${i}` }) as unknown as Registration;
    const select = createSelector("round-robin");
    const healthy = () => HealthState.HEALTHY;
    let list = [reg(0), reg(1), reg(2)];
    const counts = new Map<string, number>();
    let foreign = 0;
    for (let i = 0; i < 300_000; i++) {
      if (i === 100_000) list = [reg(0), reg(1)];
      if (i === 200_000) list = [reg(0), reg(1), reg(2), reg(3)];
      const picked = select("kv", list, healthy);
      if (i >= 200_000) counts.set(picked.id, (counts.get(picked.id) ?? 0) + 1);
      if (!list.includes(picked)) foreign++;
    }
    expect(foreign).toBe(0);
    // Exactly even over the last 100,000 picks with 4 providers.
    expect([...counts.values()]).toEqual([25_000, 25_000, 25_000, 25_000]);
  });
});
