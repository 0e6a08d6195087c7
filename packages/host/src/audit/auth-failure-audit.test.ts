import { Code, createClient } from "@connectrpc/connect";
import { API_KEY_HEADER, adminV1, bearer, RUNTIME_ID_HEADER, ServiceRegistry } from "@cpg/protocol";
import { afterEach, describe, expect, it } from "vitest";
import type { Host } from "../host.js";
import { joinInMemory, testHost } from "../test-support/test-host.js";
import type { AuditEvent } from "./audit-sink.js";

let host: Host | undefined;
afterEach(async () => {
  await host?.close();
  host = undefined;
});

function withHeaders(h: Host, headers: Record<string, string>) {
  return h.createInMemoryTransport({
    interceptors: [
      (next) => (req) => {
        for (const [k, v] of Object.entries(headers)) req.header.set(k, v);
        return next(req);
      },
    ],
  });
}

describe("auditAuthFailures", () => {
  it("audits host calls refused as unauthenticated, without the credential", async () => {
    const audit: AuditEvent[] = [];
    host = testHost({
      audit: (e) => audit.push(e),
      admin: { apiKeys: { "operator-key-0123456789": { identity: "alice", role: "operator" } } },
    });
    const kv = await joinInMemory(host, "kv-store");
    const forged = createClient(
      ServiceRegistry,
      withHeaders(host, {
        [RUNTIME_ID_HEADER]: kv.runtimeId,
        authorization: bearer("forged-runtime-token"),
      }),
    );
    await expect(forged.discoverService({ serviceType: "kv" })).rejects.toMatchObject({
      code: Code.Unauthenticated,
    });
    const wrongKey = createClient(
      adminV1.AdminService,
      withHeaders(host, { [API_KEY_HEADER]: "wrong-api-key-0123456789" }),
    );
    await expect(wrongKey.listPlugins({})).rejects.toMatchObject({ code: Code.Unauthenticated });

    const failed = audit.filter((e) => e.event === "auth.failed");
    expect(failed).toEqual([
      expect.objectContaining({
        procedure: `/${ServiceRegistry.typeName}/DiscoverService`,
        claimed_runtime_id: kv.runtimeId,
        code: "unauthenticated",
        detail: "invalid, expired or revoked runtime token",
      }),
      expect.objectContaining({
        procedure: `/${adminV1.AdminService.typeName}/ListPlugins`,
        code: "unauthenticated",
        detail: "unknown API key",
      }),
    ]);
    const text = JSON.stringify(failed);
    expect(text).not.toContain("forged-runtime-token");
    expect(text).not.toContain("wrong-api-key-0123456789");
  });
});
