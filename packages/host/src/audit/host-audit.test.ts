import { Code, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { createEventStream } from "@cpg/plugin-sdk/internal";
import {
  API_KEY_HEADER,
  adminV1,
  bearer,
  CapabilityBroker,
  Logger as LoggerService,
  RUNTIME_ID_HEADER,
  ServiceRegistry,
} from "@cpg/protocol";
import { afterEach, describe, expect, it } from "vitest";
import type { HostEvent } from "../events/host-event.js";
import type { Host } from "../host.js";
import type { HostOptions } from "../host-options.js";
import {
  handshakeClient,
  handshakeRequest,
  joinInMemory,
  manualClock,
  testHost,
} from "../test-support/test-host.js";
import type { AuditEvent } from "./audit-sink.js";
import { createHostAudit } from "./host-audit.js";

let host: Host | undefined;
afterEach(async () => {
  await host?.close();
  host = undefined;
});

function auditedHost(options: HostOptions = {}) {
  const events: AuditEvent[] = [];
  host = testHost({ audit: (e) => events.push(e), ...options });
  const named = (name: string) => events.filter((e) => e.event === name);
  return { host, events, named };
}

const PRODUCTION = { profile: "production", allowInsecure: true } as const;
const BASE = { base_url: "http://127.0.0.1:9" };

/** A plugin that joined over HTTP/1.1 with a runtime-authenticated Connect transport. */
async function httpPlugin(url: string, selfId: string) {
  const id = await handshakeClient(
    createConnectTransport({ baseUrl: url, httpVersion: "1.1" }),
  ).handshake(handshakeRequest({ selfId }));
  const transport = createConnectTransport({
    baseUrl: url,
    httpVersion: "1.1",
    interceptors: [
      (next) => (req) => {
        req.header.set(RUNTIME_ID_HEADER, id.runtimeId);
        req.header.set("authorization", bearer(id.runtimeToken));
        return next(req);
      },
    ],
  });
  return { runtimeId: id.runtimeId, token: id.runtimeToken, transport };
}

/** A Logger capability client authenticated with a grant token. */
function loggerClient(endpointUrl: string, token: string) {
  return createClient(
    LoggerService,
    createConnectTransport({
      baseUrl: endpointUrl,
      httpVersion: "1.1",
      interceptors: [
        (next) => (req) => {
          req.header.set("authorization", bearer(token));
          return next(req);
        },
      ],
    }),
  );
}

describe("host audit", () => {
  it("audits accepted handshakes, token refreshes and refused handshakes", async () => {
    const { host, named } = auditedHost();
    const kv = await joinInMemory(host, "kv-store");
    expect(named("runtime.issued")).toEqual([
      expect.objectContaining({ runtime_id: kv.runtimeId, self_id: "kv-store" }),
    ]);
    expect(named("handshake.accepted")).toEqual([
      expect.objectContaining({
        runtime_id: kv.runtimeId,
        self_id: "kv-store",
        self_version: "1.0.0",
        app_protocol_version: 1,
        managed: false,
        refreshed: false,
      }),
    ]);

    // A handshake with the current token for the same self_id refreshes it.
    await handshakeClient(kv.transport).handshake(handshakeRequest({ selfId: "kv-store" }));
    expect(named("runtime.refreshed")).toEqual([
      expect.objectContaining({ runtime_id: kv.runtimeId, self_id: "kv-store" }),
    ]);
    expect(named("handshake.accepted")[1]).toMatchObject({
      runtime_id: kv.runtimeId,
      refreshed: true,
    });

    const anonymous = handshakeClient(host.createInMemoryTransport());
    await expect(
      anonymous.handshake(
        handshakeRequest({ selfId: "intruder", magicCookieValue: "not-the-cookie-value" }),
      ),
    ).rejects.toMatchObject({ code: Code.InvalidArgument });
    await expect(
      anonymous.handshake(
        handshakeRequest({ selfId: "old", appProtocolVersion: 99, appProtocolVersions: [] }),
      ),
    ).rejects.toMatchObject({ code: Code.FailedPrecondition });
    const refused = named("handshake.refused");
    expect(refused).toEqual([
      expect.objectContaining({
        code: "invalid_argument",
        reason: expect.stringContaining("magic cookie mismatch"),
        self_id: "intruder",
      }),
      expect.objectContaining({
        code: "failed_precondition",
        reason: expect.stringContaining("no common app protocol version"),
        self_id: "old",
      }),
    ]);
    expect(JSON.stringify(refused)).not.toContain("not-the-cookie-value");
  });

  it("audits revoked and expired runtime identities", async () => {
    const clock = manualClock(Date.now());
    const { host, named } = auditedHost({ now: clock.now, runtimeTokenTtlMs: 60_000 });
    const a = await joinInMemory(host, "alpha");
    host.identities.revoke(a.runtimeId);
    expect(named("runtime.revoked")).toEqual([
      expect.objectContaining({ runtime_id: a.runtimeId, self_id: "alpha" }),
    ]);
    const b = await joinInMemory(host, "beta");
    clock.advance(60_001);
    host.identities.sweep();
    expect(named("runtime.expired")).toEqual([
      expect.objectContaining({ runtime_id: b.runtimeId, self_id: "beta" }),
    ]);
  });

  it("audits registrations, unregistrations and registry denials", async () => {
    const { host, named } = auditedHost({
      ...PRODUCTION,
      policies: { registration: { "kv-store": ["kv"] } },
    });
    const kv = await joinInMemory(host, "kv-store");
    const registry = createClient(ServiceRegistry, kv.transport);
    const { registrationId } = await registry.registerService({
      serviceType: "kv",
      version: "1.2.0",
      endpointPath: "/kv.v1.Service/",
      metadata: BASE,
    });
    expect(named("service.registered")).toEqual([
      expect.objectContaining({
        registration_id: registrationId,
        runtime_id: kv.runtimeId,
        self_id: "kv-store",
        service_type: "kv",
        version: "1.2.0",
        endpoint_path: "/kv.v1.Service/",
      }),
    ]);

    await expect(
      registry.registerService({
        serviceType: "secrets",
        version: "1.0.0",
        endpointPath: "/",
        metadata: BASE,
      }),
    ).rejects.toMatchObject({ code: Code.PermissionDenied });
    expect(named("registration.denied")).toEqual([
      expect.objectContaining({
        runtime_id: kv.runtimeId,
        self_id: "kv-store",
        service_type: "secrets",
        code: "permission_denied",
        reason: 'plugin "kv-store" may not register service type "secrets"',
      }),
    ]);

    const cache = await joinInMemory(host, "cache");
    const cacheRegistry = createClient(ServiceRegistry, cache.transport);
    await expect(cacheRegistry.discoverService({ serviceType: "kv" })).rejects.toMatchObject({
      code: Code.PermissionDenied,
    });
    expect(named("discovery.denied")).toEqual([
      expect.objectContaining({
        runtime_id: cache.runtimeId,
        self_id: "cache",
        service_type: "kv",
        procedure: "DiscoverService",
        code: "permission_denied",
      }),
    ]);
    await expect(cacheRegistry.unregisterService({ registrationId })).rejects.toMatchObject({
      code: Code.NotFound,
    });
    expect(named("unregistration.denied")).toEqual([
      expect.objectContaining({
        runtime_id: cache.runtimeId,
        registration_id: registrationId,
        owner_runtime_id: kv.runtimeId,
      }),
    ]);

    await registry.unregisterService({ registrationId });
    expect(named("service.unregistered")).toEqual([
      expect.objectContaining({
        registration_id: registrationId,
        runtime_id: kv.runtimeId,
        service_type: "kv",
        reason: "unregistered",
      }),
    ]);
  });

  it("audits grants, every capability call, refused calls and grant revocation", async () => {
    const { host, named } = auditedHost({
      ...PRODUCTION,
      policies: { capabilities: { billing: ["logger"] } },
    });
    const { url } = await host.listen();
    const billing = await httpPlugin(url, "billing");
    const broker = createClient(CapabilityBroker, billing.transport);
    const { grant } = await broker.requestCapability({
      capabilityType: "logger",
      reason: "invoices",
    });
    expect(named("capability.granted")).toEqual([
      expect.objectContaining({
        grant_id: grant!.grantId,
        runtime_id: billing.runtimeId,
        self_id: "billing",
        capability_type: "logger",
        version: "1.0.0",
        expires_at: new Date(Number(grant!.expiresUnixMs)).toISOString(),
        requested_reason: "invoices",
      }),
    ]);
    await expect(broker.requestCapability({ capabilityType: "store" })).rejects.toMatchObject({
      code: Code.PermissionDenied,
    });
    expect(named("capability.request_denied")).toEqual([
      expect.objectContaining({
        runtime_id: billing.runtimeId,
        self_id: "billing",
        capability_type: "store",
        code: "permission_denied",
        reason: 'plugin "billing" may not use capability "store"',
      }),
    ]);

    const logger = loggerClient(grant!.endpointUrl, grant!.bearerToken);
    await logger.log({ message: "invoice sent" });
    await expect(logger.log({ level: "shout", message: "x" })).rejects.toMatchObject({
      code: Code.InvalidArgument,
    });
    const used = {
      grant_id: grant!.grantId,
      runtime_id: billing.runtimeId,
      self_id: "billing",
      capability_type: "logger",
      procedure: `/${LoggerService.typeName}/Log`,
    };
    expect(named("capability.used")).toEqual([
      expect.objectContaining({ ...used, code: "ok", duration_ms: expect.any(Number) }),
      expect.objectContaining({ ...used, code: "invalid_argument" }),
    ]);

    await expect(
      loggerClient(grant!.endpointUrl, "forged-grant-token").log({ message: "x" }),
    ).rejects.toMatchObject({ code: Code.Unauthenticated });
    expect(named("capability.call_denied")).toEqual([
      expect.objectContaining({
        grant_id: grant!.grantId,
        capability_type: "logger",
        procedure: `/${LoggerService.typeName}/Log`,
        code: "unauthenticated",
        reason: "invalid, expired or revoked capability grant",
      }),
    ]);
    // Audited denials and uses never carry payloads.
    expect(JSON.stringify(named("capability.used"))).not.toContain("invoice sent");

    host.grants.revoke(grant!.grantId);
    expect(named("capability.grant_revoked")).toEqual([
      expect.objectContaining({
        grant_id: grant!.grantId,
        runtime_id: billing.runtimeId,
        capability_type: "logger",
      }),
    ]);
  });

  it("audits expired grants", async () => {
    const clock = manualClock(Date.now());
    const { host, named } = auditedHost({ now: clock.now, grantTtlMs: 60_000 });
    const { url } = await host.listen();
    const billing = await httpPlugin(url, "billing");
    const { grant } = await createClient(CapabilityBroker, billing.transport).requestCapability({
      capabilityType: "logger",
    });
    clock.advance(60_001);
    await expect(
      loggerClient(grant!.endpointUrl, grant!.bearerToken).log({ message: "late" }),
    ).rejects.toMatchObject({ code: Code.Unauthenticated });
    expect(named("capability.grant_expired")).toEqual([
      expect.objectContaining({ grant_id: grant!.grantId, runtime_id: billing.runtimeId }),
    ]);
  });

  it("audits router calls refused by the caller policy", async () => {
    const { host, named } = auditedHost(PRODUCTION);
    const { url } = await host.listen();
    const cache = await httpPlugin(url, "cache");
    const res = await fetch(`${url}/services/kv/kv-store-1/kv.v1.Service/Get`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        authorization: bearer(cache.token),
        [RUNTIME_ID_HEADER]: cache.runtimeId,
      },
      body: "{}",
    });
    expect(res.status).toBe(403);
    expect(named("router.call_denied")).toEqual([
      expect.objectContaining({
        by: "host",
        runtime_id: cache.runtimeId,
        self_id: "cache",
        service_type: "kv",
        code: "permission_denied",
      }),
    ]);
  });

  it("audits routed calls a provider refused, not the others", () => {
    const events = createEventStream<HostEvent>();
    const audited: Array<[string, Record<string, unknown> | undefined]> = [];
    const hostAudit = createHostAudit({ events, audit: (e, f) => audited.push([e, f]) });
    const route = {
      type: "route.completed",
      callerId: "cache-1",
      providerId: "kv-1",
      serviceType: "kv",
      procedure: "/kv.v1.Service/Get",
      durationMs: 3,
    } as const;
    events.emit({ ...route, code: "ok" });
    events.emit({ ...route, code: "not_found" });
    events.emit({ ...route, code: "permission_denied" });
    events.emit({ ...route, code: "unauthenticated" });
    expect(audited.map(([e, f]) => [e, f?.by, f?.code])).toEqual([
      ["router.call_denied", "provider", "permission_denied"],
      ["router.call_denied", "provider", "unauthenticated"],
    ]);
    expect(audited[0]![1]).toMatchObject({
      runtime_id: "cache-1",
      provider_id: "kv-1",
      service_type: "kv",
      procedure: "/kv.v1.Service/Get",
    });
    hostAudit.close();
    events.emit({ ...route, code: "permission_denied" });
    expect(audited).toHaveLength(2);
  });

  it("audits admin calls refused for plugins and read-only operators", async () => {
    const { host, named } = auditedHost({
      admin: { apiKeys: { "viewer-key-0123456789": { identity: "dashboard", role: "viewer" } } },
    });
    const admin = (headers: Headers) =>
      createClient(
        adminV1.AdminService,
        host.createInMemoryTransport({
          interceptors: [
            (next) => (req) => {
              for (const [k, v] of headers) req.header.set(k, v);
              return next(req);
            },
          ],
        }),
      );
    await expect(
      admin(new Headers({ [API_KEY_HEADER]: "viewer-key-0123456789" })).removePlugin({
        name: "kv",
      }),
    ).rejects.toMatchObject({ code: Code.PermissionDenied });
    const plugin = await joinInMemory(host, "sneaky");
    await expect(admin(plugin.headers).listGrants({})).rejects.toMatchObject({
      code: Code.PermissionDenied,
    });
    await expect(admin(new Headers()).listPlugins({})).rejects.toMatchObject({
      code: Code.Unauthenticated,
    });
    expect(named("admin.denied")).toEqual([
      expect.objectContaining({
        identity: "dashboard",
        provider: "operator",
        procedure: "RemovePlugin",
        required_role: "operator",
        code: "permission_denied",
        reason: 'operator "dashboard" may only read',
      }),
      expect.objectContaining({
        identity: plugin.runtimeId,
        provider: "runtime-token",
        procedure: "ListGrants",
        required_role: "viewer",
        code: "permission_denied",
      }),
    ]);
    // Calls without credentials never reach the service: the auth interceptor refuses them.
    expect(named("auth.failed")).toEqual([
      expect.objectContaining({
        procedure: `/${adminV1.AdminService.typeName}/ListPlugins`,
        code: "unauthenticated",
      }),
    ]);
    expect(JSON.stringify(named("admin.denied"))).not.toContain("viewer-key-0123456789");
  });
});
