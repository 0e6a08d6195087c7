import { Code, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { EchoService } from "@cpg/examples-proto";
import { createPlugin, type Plugin, provide, silentLogger } from "@cpg/plugin-sdk";
import {
  API_KEY_HEADER,
  adminV1,
  bearer,
  Logger as LoggerService,
  MAGIC_COOKIE_VALUE,
  RUNTIME_ID_HEADER,
  ServiceRegistry,
  storeV1,
} from "@cpg/protocol";
import { waitFor } from "@cpg/test-utils";
import { afterEach, describe, expect, it } from "vitest";
import type { Host } from "../host.js";
import { handshakeClient, handshakeRequest, testHost } from "../test-support/test-host.js";
import type { AuditEvent } from "./audit-sink.js";

const API_KEY = "op-key-5f1c9a7e3b2d4c6a8e0f1a2b3c4d5e6f";
const WRONG_API_KEY = "op-key-00000000000000000000000000000000";
const FORGED_RUNTIME_TOKEN = "forged-runtime-token-8c1d2e3f4a5b6c7d";
const FORGED_GRANT_TOKEN = "forged-grant-token-1a2b3c4d5e6f7a8b";
const WRONG_COOKIE = "wrong-cookie-9f8e7d6c5b4a39281706";

let host: Host | undefined;
const plugins: Plugin[] = [];
afterEach(async () => {
  for (const p of plugins.splice(0)) await p.close(100);
  await host?.close();
  host = undefined;
});

function withHeaders(baseUrl: string, headers: Record<string, string>) {
  return createConnectTransport({
    baseUrl,
    httpVersion: "1.1",
    interceptors: [
      (next) => (req) => {
        for (const [k, v] of Object.entries(headers)) req.header.set(k, v);
        return next(req);
      },
    ],
  });
}

describe("log hygiene", () => {
  it("never writes a token, API key, grant token or the magic cookie to logs or the audit log", async () => {
    // Every line the host logs, at every level, and every audit event.
    const lines: unknown[] = [];
    const record = (msg: string, fields?: Record<string, unknown>) => lines.push({ msg, fields });
    const audit: AuditEvent[] = [];
    host = testHost({
      logger: { debug: record, info: record, warn: record, error: record },
      audit: (e) => audit.push(e),
      admin: { apiKeys: { [API_KEY]: { identity: "alice", role: "operator" } } },
    });
    const { url } = await host.listen();
    const secrets = new Set<string>([
      API_KEY,
      WRONG_API_KEY,
      FORGED_RUNTIME_TOKEN,
      FORGED_GRANT_TOKEN,
      WRONG_COOKIE,
      MAGIC_COOKIE_VALUE,
    ]);

    // Handshake and registration (the provider registers by itself), discovery, a routed call.
    const provider = createPlugin({
      selfId: "echo-provider",
      version: "1.0.0",
      services: [
        provide(EchoService, {
          echo: (req) => ({ message: req.message }),
        }),
      ],
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
    await waitFor(() => host!.registry.providers("echo").length === 1, {
      description: "echo registered",
    });
    expect((await caller.discover("echo")).endpoint?.providerId).toBe(
      provider.credentials!.runtimeId,
    );
    expect((await caller.client(EchoService).echo({ message: "hi" })).message).toBe("hi");

    // Capability grants and calls.
    await caller.capability(LoggerService).log({ message: "from the caller" });
    await caller
      .capability(storeV1.StoreService)
      .put({ key: "k", value: new TextEncoder().encode("v") });
    const grants = host.grants.list();
    expect(grants).toHaveLength(2);
    for (const g of grants) secrets.add(g.token);

    // An admin call with the API key.
    const admin = createClient(
      adminV1.AdminService,
      withHeaders(url, { [API_KEY_HEADER]: API_KEY }),
    );
    expect((await admin.listGrants({})).grants).toHaveLength(2);
    expect((await admin.revokeGrant({ grantId: grants[0]!.grantId })).revoked).toBe(true);

    // Refused calls with wrong credentials, everywhere a credential is checked.
    const callerId = caller.credentials!.runtimeId;
    await expect(
      handshakeClient(createConnectTransport({ baseUrl: url, httpVersion: "1.1" })).handshake(
        handshakeRequest({ selfId: "intruder", magicCookieValue: WRONG_COOKIE }),
      ),
    ).rejects.toMatchObject({ code: Code.InvalidArgument });
    await expect(
      createClient(
        ServiceRegistry,
        withHeaders(url, {
          [RUNTIME_ID_HEADER]: callerId,
          authorization: bearer(FORGED_RUNTIME_TOKEN),
        }),
      ).discoverService({ serviceType: "echo" }),
    ).rejects.toMatchObject({ code: Code.Unauthenticated });
    await expect(
      createClient(
        EchoService,
        withHeaders(`${url}/services/echo/${provider.credentials!.runtimeId}`, {
          [RUNTIME_ID_HEADER]: callerId,
          authorization: bearer(FORGED_RUNTIME_TOKEN),
        }),
      ).echo({ message: "forged" }),
    ).rejects.toMatchObject({ code: Code.Unauthenticated });
    await expect(
      createClient(
        LoggerService,
        withHeaders(`${url}/capabilities/logger/${grants[1]!.grantId}`, {
          authorization: bearer(FORGED_GRANT_TOKEN),
        }),
      ).log({ message: "forged" }),
    ).rejects.toMatchObject({ code: Code.Unauthenticated });
    await expect(
      createClient(
        adminV1.AdminService,
        withHeaders(url, { [API_KEY_HEADER]: WRONG_API_KEY }),
      ).listPlugins({}),
    ).rejects.toMatchObject({ code: Code.Unauthenticated });

    for (const p of [provider, caller]) secrets.add(p.credentials!.token);
    for (const identity of host.identities.list()) secrets.add(identity.token);

    // The scenario left its traces, and none of them carries a secret.
    const kinds = new Set(audit.map((e) => e.event));
    for (const kind of [
      "handshake.accepted",
      "handshake.refused",
      "service.registered",
      "capability.granted",
      "capability.used",
      "capability.call_denied",
      "capability.grant_revoked",
      "admin.revoke_grant",
      "auth.failed",
    ]) {
      expect(kinds).toContain(kind);
    }
    expect(lines.length).toBeGreaterThan(0);
    const captured = [...lines, ...audit].map((line) => JSON.stringify(line));
    for (const secret of secrets) {
      expect(secret.length).toBeGreaterThanOrEqual(16);
      const leaks = captured.filter((line) => line.includes(secret));
      expect(leaks, `a secret leaked into ${leaks.length} line(s)`).toEqual([]);
    }
  });
});
