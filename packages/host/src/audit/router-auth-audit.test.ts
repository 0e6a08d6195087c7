import { afterEach, describe, expect, it } from "vitest";
import type { Host } from "../host.js";
import { testHost } from "../test-support/test-host.js";
import type { AuditEvent } from "./audit-sink.js";

let host: Host | undefined;
afterEach(() => host?.close());

describe("router authentication failures", () => {
  it("are audited without the presented token", async () => {
    const audit: AuditEvent[] = [];
    host = testHost({ audit: (e) => audit.push(e) });
    const { url } = await host.listen();
    const res = await fetch(`${url}/services/kv/kv-0123456789abcdef/kv.v1.KVService/Get`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "x-plugin-runtime-id": "kv-0123456789abcdef",
        authorization: "Bearer forged-token-value",
      },
      body: "{}",
    });
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({
      code: "unauthenticated",
      message: "invalid, expired or revoked runtime token",
    });
    const event = audit.find((e) => e.event === "auth.failed" && e.where === "router");
    expect(event).toMatchObject({
      claimed_runtime_id: "kv-0123456789abcdef",
      reason: "invalid, expired or revoked runtime token",
    });
    expect(JSON.stringify(audit)).not.toContain("forged-token-value");
  });
});
