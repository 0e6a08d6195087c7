import { create, toBinary } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import {
  adminV1,
  CapabilityBroker,
  DiscoverServiceRequestSchema,
  HealthState,
  MAGIC_COOKIE_VALUE,
  RegisterServiceRequestSchema,
  ReportHealthRequestSchema,
  RequestCapabilityRequestSchema,
  RUNTIME_ID_HEADER,
  UnregisterServiceRequestSchema,
  WatchServiceRequestSchema,
} from "@cpg/protocol";
import { afterEach, describe, expect, it } from "vitest";
import type { Host } from "../host.js";
import {
  handshakeClient,
  handshakeRequest,
  manualClock,
  testHost,
} from "../test-support/test-host.js";
import {
  ADMIN_PROCEDURES,
  apiKeyHeaders,
  PLUGIN_PROCEDURES,
  type Procedure,
  rawCall,
  runtimeAuthHeaders,
} from "./support.js";

// Authentication bypass matrix: every authenticated host procedure (registry,
// ReportHealth, RequestCapability at both paths, admin API, router,
// capability gateway) against every kind of bad credential, over HTTP.

const HOUR = 60 * 60 * 1000;
const OPERATOR_KEY = "operator-key-0123456789abcdef";
const VIEWER_KEY = "viewer-key-0123456789abcdef";

let host: Host;
afterEach(() => host?.close());

interface Fixture {
  url: string;
  clock: ReturnType<typeof manualClock>;
  a: { runtimeId: string; token: string };
  b: { runtimeId: string; token: string };
  grant: { grantId: string; token: string; url: string };
}

async function start(): Promise<Fixture> {
  // The clock starts now, so handshake timestamps are inside the replay window.
  const clock = manualClock(Date.now());
  host = testHost({
    now: clock.now,
    runtimeTokenTtlMs: HOUR,
    grantTtlMs: 10 * 60 * 1000,
    admin: {
      apiKeys: {
        [OPERATOR_KEY]: { identity: "alice", role: "operator" },
        [VIEWER_KEY]: { identity: "dashboard", role: "viewer" },
      },
    },
  });
  const { url } = await host.listen();
  const hs = handshakeClient(createConnectTransport({ baseUrl: url, httpVersion: "1.1" }));
  const ra = await hs.handshake(handshakeRequest({ selfId: "plugin-a" }));
  const rb = await hs.handshake(handshakeRequest({ selfId: "plugin-b" }));
  const a = { runtimeId: ra.runtimeId, token: ra.runtimeToken };
  const b = { runtimeId: rb.runtimeId, token: rb.runtimeToken };
  const broker = createClient(
    CapabilityBroker,
    createConnectTransport({
      baseUrl: url,
      httpVersion: "1.1",
      interceptors: [
        (next) => (req) => {
          for (const [k, v] of Object.entries(runtimeAuthHeaders(a.runtimeId, a.token)))
            req.header.set(k, v);
          return next(req);
        },
      ],
    }),
  );
  const { grant } = await broker.requestCapability({ capabilityType: "logger" });
  return {
    url,
    clock,
    a,
    b,
    grant: { grantId: grant!.grantId, token: grant!.bearerToken, url: grant!.endpointUrl },
  };
}

const name = (p: Procedure, prefix = "") => `${prefix}/${p.service}/${p.method}`;

// Valid request messages, so that a call that gets past authentication reaches
// the handler (and its own identity checks) instead of stopping at validation.
const validBodies: Record<string, Uint8Array> = {
  RegisterService: toBinary(
    RegisterServiceRequestSchema,
    create(RegisterServiceRequestSchema, {
      serviceType: "echo",
      version: "1.0.0",
      endpointPath: "/",
      metadata: { base_url: "http://127.0.0.1:9" },
    }),
  ),
  UnregisterService: toBinary(
    UnregisterServiceRequestSchema,
    create(UnregisterServiceRequestSchema, { registrationId: "reg-unknown" }),
  ),
  DiscoverService: toBinary(
    DiscoverServiceRequestSchema,
    create(DiscoverServiceRequestSchema, { serviceType: "echo" }),
  ),
  WatchService: toBinary(
    WatchServiceRequestSchema,
    create(WatchServiceRequestSchema, { serviceType: "echo" }),
  ),
  ReportHealth: toBinary(
    ReportHealthRequestSchema,
    create(ReportHealthRequestSchema, { state: HealthState.UNHEALTHY, reason: "forged" }),
  ),
  RequestCapability: toBinary(
    RequestCapabilityRequestSchema,
    create(RequestCapabilityRequestSchema, { capabilityType: "logger" }),
  ),
  WatchEvents: toBinary(
    adminV1.WatchEventsRequestSchema,
    create(adminV1.WatchEventsRequestSchema, { backlog: 10 }),
  ),
};
const bodyOf = (p: Procedure) => validBodies[p.method] ?? new Uint8Array();

/** Calls every plugin procedure (and RequestCapability under /broker) with `headers`. */
async function pluginMatrix(f: Fixture, headers: Record<string, string>) {
  const out: Record<string, string> = {};
  for (const proc of PLUGIN_PROCEDURES) {
    const r = await rawCall(f.url, proc, bodyOf(proc), headers);
    out[name(proc)] = r.code;
    expect(r.message).not.toContain(f.a.token);
  }
  const rc = PLUGIN_PROCEDURES.find((p) => p.method === "RequestCapability")!;
  out[name(rc, "/broker")] = (await rawCall(f.url, rc, bodyOf(rc), headers, 5000, "/broker")).code;
  return out;
}

async function adminMatrix(f: Fixture, headers: Record<string, string>) {
  const out: Record<string, string> = {};
  for (const proc of ADMIN_PROCEDURES) {
    out[name(proc)] = (await rawCall(f.url, proc, bodyOf(proc), headers)).code;
  }
  return out;
}

/** A router call (Connect unary, raw), answered by the host before any provider is involved. */
async function routerCall(f: Fixture, headers: Record<string, string>) {
  const res = await fetch(
    `${f.url}/services/echo/${f.a.runtimeId}/cpg.examples.v1.EchoService/Echo`,
    {
      method: "POST",
      headers: { "content-type": "application/proto", ...headers },
      body: new Uint8Array(),
      signal: AbortSignal.timeout(5000),
    },
  );
  const json = (await res.json()) as { code: string; message: string };
  expect(json.message).not.toContain(f.a.token);
  return json.code;
}

async function gatewayCall(f: Fixture, headers: Record<string, string>, grantId = f.grant.grantId) {
  const res = await fetch(
    `${f.url}/capabilities/logger/${grantId}/capability.logger.v1.Logger/Log`,
    {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: JSON.stringify({ level: "info", message: "hi" }),
      signal: AbortSignal.timeout(5000),
    },
  );
  if (res.status === 200) {
    await res.arrayBuffer();
    return "ok";
  }
  return ((await res.json()) as { code: string }).code;
}

const every = (keys: string[], code: string) => Object.fromEntries(keys.map((k) => [k, code]));
const pluginKeys = [
  ...PLUGIN_PROCEDURES.map((p) => name(p)),
  "/broker/connectplugin.v1.CapabilityBroker/RequestCapability",
];
const adminKeys = ADMIN_PROCEDURES.map((p) => name(p));

type HeaderCase = [
  string,
  (f: Fixture) => Record<string, string> | Promise<Record<string, string>>,
];

// Each bad credential: plugin procedures, admin API and router all answer unauthenticated.
const badRuntimeCredentials: HeaderCase[] = [
  ["no credentials", () => ({})],
  ["empty bearer", (f) => ({ [RUNTIME_ID_HEADER]: f.a.runtimeId, authorization: "Bearer " })],
  [
    "bearer without space",
    (f) => ({ [RUNTIME_ID_HEADER]: f.a.runtimeId, authorization: "Bearer" }),
  ],
  [
    "malformed header (two words)",
    (f) => ({ [RUNTIME_ID_HEADER]: f.a.runtimeId, authorization: `Bearer ${f.a.token} extra` }),
  ],
  [
    "padded token",
    (f) => ({ [RUNTIME_ID_HEADER]: f.a.runtimeId, authorization: `Bearer  ${f.a.token}` }),
  ],
  [
    "wrong prefix (Basic)",
    (f) => ({ [RUNTIME_ID_HEADER]: f.a.runtimeId, authorization: `Basic ${f.a.token}` }),
  ],
  [
    "wrong prefix (Token)",
    (f) => ({ [RUNTIME_ID_HEADER]: f.a.runtimeId, authorization: `Token ${f.a.token}` }),
  ],
  ["valid token without X-Plugin-Runtime-ID", (f) => ({ authorization: `Bearer ${f.a.token}` })],
  ["runtime id without token", (f) => ({ [RUNTIME_ID_HEADER]: f.a.runtimeId })],
  ["token of another runtime (wrong runtime)", (f) => runtimeAuthHeaders(f.a.runtimeId, f.b.token)],
  ["unknown runtime id", (f) => runtimeAuthHeaders("nobody-0000", f.a.token)],
  ["truncated token", (f) => runtimeAuthHeaders(f.a.runtimeId, f.a.token.slice(0, -1))],
  [
    "token with its last character changed",
    (f) =>
      runtimeAuthHeaders(
        f.a.runtimeId,
        f.a.token.slice(0, -1) + (f.a.token.endsWith("A") ? "B" : "A"),
      ),
  ],
  ["the magic cookie as a token", (f) => runtimeAuthHeaders(f.a.runtimeId, MAGIC_COOKIE_VALUE)],
  [
    "a capability grant token as a runtime token",
    (f) => runtimeAuthHeaders(f.a.runtimeId, f.grant.token),
  ],
  ["unknown API key", () => apiKeyHeaders("not-a-key-0123456789")],
  [
    "expired token (fake clock past the TTL)",
    (f) => {
      f.clock.advance(HOUR);
      return runtimeAuthHeaders(f.a.runtimeId, f.a.token);
    },
  ],
  [
    "revoked token",
    (f) => {
      expect(host.identities.revoke(f.a.runtimeId)).toBe(true);
      return runtimeAuthHeaders(f.a.runtimeId, f.a.token);
    },
  ],
];

describe("authentication bypass matrix (every authenticated host procedure)", () => {
  it("accepts the valid credentials the matrix starts from (control)", async () => {
    const f = await start();
    const plugin = await pluginMatrix(f, runtimeAuthHeaders(f.a.runtimeId, f.a.token));
    for (const code of Object.values(plugin)) {
      expect(code).not.toBe("unauthenticated");
      expect(code).not.toBe("permission_denied");
    }
    const admin = await adminMatrix(f, apiKeyHeaders(OPERATOR_KEY));
    for (const code of Object.values(admin)) {
      expect(["ok", "invalid_argument", "not_found"]).toContain(code);
    }
    // The router gets past authentication (to the provider checks), the gateway serves the call.
    expect(["not_found", "unavailable"]).toContain(
      await routerCall(f, runtimeAuthHeaders(f.a.runtimeId, f.a.token)),
    );
    expect(await gatewayCall(f, { authorization: `Bearer ${f.grant.token}` })).toBe("ok");
  });

  it.each(badRuntimeCredentials)("%s: unauthenticated everywhere", async (_, headersOf) => {
    const f = await start();
    const headers = await headersOf(f);
    expect(await pluginMatrix(f, headers)).toEqual(every(pluginKeys, "unauthenticated"));
    expect(await adminMatrix(f, headers)).toEqual(every(adminKeys, "unauthenticated"));
    expect(await routerCall(f, headers)).toBe("unauthenticated");
  });

  it("an operator API key is not a plugin identity: unauthenticated on registry, broker and router", async () => {
    const f = await start();
    const headers = apiKeyHeaders(OPERATOR_KEY);
    const result = await pluginMatrix(f, headers);
    const reportHealth = "/connectplugin.v1.PluginLifecycle/ReportHealth";
    // ReportHealth: see the known-vulnerability test below.
    delete result[reportHealth];
    expect(result).toEqual(
      every(
        pluginKeys.filter((k) => k !== reportHealth),
        "unauthenticated",
      ),
    );
    expect(await routerCall(f, headers)).toBe("unauthenticated");
  });

  // ReportHealth used to accept any authenticated caller; only a plugin's own
  // runtime token may report its health.
  it("ReportHealth refuses operator and viewer API keys", async () => {
    const f = await start();
    const proc = PLUGIN_PROCEDURES.find((p) => p.method === "ReportHealth")!;
    const viewer = await rawCall(f.url, proc, bodyOf(proc), apiKeyHeaders(VIEWER_KEY));
    expect(host.health.get("dashboard")).toBeUndefined();
    expect(viewer.code).toBe("unauthenticated");
  });

  it("a valid runtime token on the admin API: permission_denied", async () => {
    const f = await start();
    expect(await adminMatrix(f, runtimeAuthHeaders(f.a.runtimeId, f.a.token))).toEqual(
      every(adminKeys, "permission_denied"),
    );
  });

  it("a viewer API key on admin changes: permission_denied", async () => {
    const f = await start();
    const result = await adminMatrix(f, apiKeyHeaders(VIEWER_KEY));
    for (const m of ["AddPlugin", "RemovePlugin", "ReplacePlugin", "RevokeGrant"]) {
      expect(result[`/cpg.admin.v1.AdminService/${m}`]).toBe("permission_denied");
    }
  });
});

describe("capability gateway bypass matrix", () => {
  const bad: HeaderCase[] = [
    ["no credentials", () => ({})],
    ["empty bearer", () => ({ authorization: "Bearer " })],
    ["wrong prefix", (f) => ({ authorization: `Basic ${f.grant.token}` })],
    ["malformed header", (f) => ({ authorization: `Bearer ${f.grant.token} x` })],
    [
      "a runtime token instead of the grant token",
      (f) => ({ authorization: `Bearer ${f.a.token}` }),
    ],
    [
      "the grant token with one character changed",
      (f) => ({
        authorization: `Bearer ${f.grant.token.slice(0, -1)}${f.grant.token.endsWith("A") ? "B" : "A"}`,
      }),
    ],
    [
      "expired grant (fake clock past the grant TTL)",
      (f) => {
        f.clock.advance(10 * 60 * 1000);
        return { authorization: `Bearer ${f.grant.token}` };
      },
    ],
    [
      "revoked grant",
      (f) => {
        host.grants.revoke(f.grant.grantId);
        return { authorization: `Bearer ${f.grant.token}` };
      },
    ],
    [
      "grant of a runtime whose identity was revoked",
      (f) => {
        host.identities.revoke(f.a.runtimeId);
        return { authorization: `Bearer ${f.grant.token}` };
      },
    ],
  ];

  it.each(bad)("%s: unauthenticated", async (_, headersOf) => {
    const f = await start();
    expect(await gatewayCall(f, await headersOf(f))).toBe("unauthenticated");
  });

  it("a grant presented under another grant id: unauthenticated", async () => {
    const f = await start();
    expect(
      await gatewayCall(f, { authorization: `Bearer ${f.grant.token}` }, "grant-does-not-exist"),
    ).toBe("unauthenticated");
  });

  it("a grant used by another runtime: permission_denied", async () => {
    const f = await start();
    expect(
      await gatewayCall(f, {
        authorization: `Bearer ${f.grant.token}`,
        [RUNTIME_ID_HEADER]: f.b.runtimeId,
      }),
    ).toBe("permission_denied");
  });
});
