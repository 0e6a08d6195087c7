import {
  Code,
  ConnectError,
  type ConnectRouter,
  createClient,
  createRouterTransport,
  type Interceptor,
} from "@connectrpc/connect";
import { PluginControl, pluginHealthV1, RUNTIME_ID_HEADER } from "@cpg/protocol";
import { afterEach, describe, expect, it } from "vitest";
import { apiKeyAuthenticator } from "./api-key-authenticator.js";
import { getAuthContext } from "./auth-context.js";
import { AuthError } from "./auth-error.js";
import { type AuthInterceptorOptions, createAuthInterceptor } from "./auth-interceptor.js";
import type { Authenticator } from "./authenticator.js";
import { createAuthorizationInterceptor } from "./authorization-interceptor.js";
import { bearerAuthenticator } from "./bearer-authenticator.js";
import { constantTimeEqual } from "./constant-time-equal.js";
import { createMemoryTokenStore, type MemoryTokenStore } from "./memory-token-store.js";
import { requireAuth } from "./require-auth.js";
import { createWhoAmIRoutes } from "./test-service.js";

const API_KEY = "admin-key-0123456789";

async function errorOf(promise: Promise<unknown>): Promise<ConnectError> {
  try {
    await promise;
  } catch (error) {
    return ConnectError.from(error);
  }
  throw new Error("expected the call to fail");
}

let clock = 0;
let store: MemoryTokenStore<{ selfId: string }>;
afterEach(() => store?.close());

/** Runtime tokens: `X-Plugin-Runtime-ID` + `Authorization: Bearer`, as the cpg host checks them. */
function runtimeTokens(): Authenticator {
  return bearerAuthenticator({
    validate: (token, req) => {
      const runtimeId = req.header.get(RUNTIME_ID_HEADER);
      const entry = runtimeId === null ? undefined : store.verify(runtimeId, token);
      return entry && { identity: entry.id, claims: { selfId: entry.value.selfId } };
    },
  });
}

const apiKeys = apiKeyAuthenticator({
  validate: (key) => (constantTimeEqual(key, API_KEY) ? { identity: "admin" } : undefined),
});

function setup(
  options: Partial<AuthInterceptorOptions> = {},
  clientInterceptors: Interceptor[] = [],
  extra: { serverInterceptors?: Interceptor[]; routes?: (router: ConnectRouter) => void } = {},
) {
  clock = 1_000_000;
  store = createMemoryTokenStore({ ttlMs: 60_000, sweepIntervalMs: 0, now: () => clock });
  const whoAmI = createWhoAmIRoutes();
  const transport = createRouterTransport(extra.routes ?? whoAmI.routes, {
    router: {
      interceptors: [
        createAuthInterceptor({ authenticators: [runtimeTokens(), apiKeys], ...options }),
        ...(extra.serverInterceptors ?? []),
      ],
    },
    transport: { interceptors: clientInterceptors },
  });
  return {
    calls: whoAmI.calls,
    control: createClient(PluginControl, transport),
    health: createClient(pluginHealthV1.HealthService, transport),
  };
}

async function drain(stream: AsyncIterable<unknown>): Promise<number> {
  let n = 0;
  for await (const _ of stream) n++;
  return n;
}

describe("createAuthInterceptor", () => {
  it("authenticates a runtime token for its runtime id (header name case-insensitive)", async () => {
    const { control, calls } = setup();
    const { token } = store.issue("billing-3f2a", { selfId: "billing" });
    const res = await control.getHealth(
      {},
      { headers: { "X-Plugin-Runtime-Id": "billing-3f2a", Authorization: `Bearer ${token}` } },
    );
    expect(res.reason).toBe("token:billing-3f2a");
    expect(calls).toEqual(["getHealth token:billing-3f2a"]);
  });

  it("authenticates an API key", async () => {
    const { control } = setup();
    const res = await control.getHealth({}, { headers: { "X-API-Key": API_KEY } });
    expect(res.reason).toBe("api-key:admin");
  });

  it("authenticates server-streaming calls too", async () => {
    const { health, calls } = setup();
    expect(await drain(health.watch({}, { headers: { "x-api-key": API_KEY } }))).toBe(2);
    expect(calls).toEqual(["watch api-key:admin"]);
    const error = await errorOf(drain(health.watch({})));
    expect(error.code).toBe(Code.Unauthenticated);
    expect(error.rawMessage).toBe("authentication required");
    const bad = await errorOf(drain(health.watch({}, { headers: { "x-api-key": "nope" } })));
    expect(bad.code).toBe(Code.Unauthenticated);
    expect(calls).toEqual(["watch api-key:admin"]);
  });

  it("requires a credential by default", async () => {
    const { control, calls } = setup();
    const error = await errorOf(control.getHealth({}));
    expect(error.code).toBe(Code.Unauthenticated);
    expect(error.rawMessage).toBe("authentication required");
    expect(calls).toEqual([]);
  });

  it("lets anonymous calls through when not required, but still refuses bad credentials", async () => {
    const { control } = setup({ required: false });
    expect((await control.getHealth({})).reason).toBe("anonymous");
    const error = await errorOf(control.getHealth({}, { headers: { "x-api-key": "wrong" } }));
    expect(error.code).toBe(Code.Unauthenticated);
    expect(error.rawMessage).toBe("invalid credentials");
  });

  it("decides per call with a required function", async () => {
    const { control, health } = setup({ required: (req) => req.method.name !== "Watch" });
    expect(await drain(health.watch({}))).toBe(2);
    expect((await errorOf(control.getHealth({}))).code).toBe(Code.Unauthenticated);
  });

  it("runs the handler once when the first authenticator rejects and the second accepts", async () => {
    const { control, calls } = setup();
    const res = await control.getHealth(
      {},
      { headers: { authorization: "Bearer not-a-runtime-token", "x-api-key": API_KEY } },
    );
    expect(res.reason).toBe("api-key:admin");
    expect(calls).toEqual(["getHealth api-key:admin"]);
  });

  it("does not retry other authenticators when the handler itself fails", async () => {
    let runs = 0;
    const { control } = setup({}, [], {
      routes: (router) =>
        router.service(PluginControl, {
          getHealth() {
            runs++;
            throw new ConnectError("handler says no", Code.Unauthenticated);
          },
        }),
    });
    const error = await errorOf(control.getHealth({}, { headers: { "x-api-key": API_KEY } }));
    expect(error.rawMessage).toBe("handler says no");
    expect(runs).toBe(1);
  });

  describe("authentication bypass attempts are refused with unauthenticated", () => {
    const cases: [string, (token: string) => Record<string, string>][] = [
      ["empty Authorization header", () => ({ authorization: "" })],
      ["empty bearer token", () => ({ authorization: "Bearer " })],
      ["scheme only", () => ({ authorization: "Bearer" })],
      ["wrong prefix", (t) => ({ authorization: `Token ${t}`, [RUNTIME_ID_HEADER]: "rt-1" })],
      ["Basic scheme", () => ({ authorization: "Basic YWRtaW46YWRtaW4=" })],
      ["two spaces", (t) => ({ authorization: `Bearer  ${t}`, [RUNTIME_ID_HEADER]: "rt-1" })],
      [
        "token with a space",
        (t) => ({ authorization: `Bearer ${t} x`, [RUNTIME_ID_HEADER]: "rt-1" }),
      ],
      ["no runtime id", (t) => ({ authorization: `Bearer ${t}` })],
      ["wrong runtime id", (t) => ({ authorization: `Bearer ${t}`, [RUNTIME_ID_HEADER]: "rt-2" })],
      [
        "truncated token",
        (t) => ({ authorization: `Bearer ${t.slice(0, -1)}`, [RUNTIME_ID_HEADER]: "rt-1" }),
      ],
      ["empty API key", () => ({ "x-api-key": "" })],
      ["API key with a space", () => ({ "x-api-key": `${API_KEY} x` })],
      ["API key prefix", () => ({ "x-api-key": API_KEY.slice(0, -1) })],
    ];
    it.each(cases)("%s", async (_name, make) => {
      const { control, calls } = setup();
      const { token } = store.issue("rt-1", { selfId: "a" });
      store.issue("rt-2", { selfId: "b" });
      const error = await errorOf(control.getHealth({}, { headers: make(token) }));
      expect(error.code).toBe(Code.Unauthenticated);
      expect(error.rawMessage).toBe("invalid credentials");
      expect(calls).toEqual([]);
    });

    it("expired token", async () => {
      const { control } = setup();
      const { token } = store.issue("rt-1", { selfId: "a" });
      const call = () =>
        control.getHealth(
          {},
          { headers: { authorization: `Bearer ${token}`, [RUNTIME_ID_HEADER]: "rt-1" } },
        );
      expect((await call()).reason).toBe("token:rt-1");
      clock += 60_000;
      expect((await errorOf(call())).code).toBe(Code.Unauthenticated);
    });

    it("revoked token", async () => {
      const { control } = setup();
      const { token } = store.issue("rt-1", { selfId: "a" });
      store.revoke("rt-1");
      const error = await errorOf(
        control.getHealth(
          {},
          { headers: { authorization: `Bearer ${token}`, [RUNTIME_ID_HEADER]: "rt-1" } },
        ),
      );
      expect(error.code).toBe(Code.Unauthenticated);
    });

    it("rotated-away token", async () => {
      const { control } = setup();
      const { token } = store.issue("rt-1", { selfId: "a" });
      store.refresh("rt-1", { rotate: true });
      const error = await errorOf(
        control.getHealth(
          {},
          { headers: { authorization: `Bearer ${token}`, [RUNTIME_ID_HEADER]: "rt-1" } },
        ),
      );
      expect(error.code).toBe(Code.Unauthenticated);
    });
  });

  it("surfaces an authenticator that cannot decide instead of answering unauthenticated", async () => {
    const broken: Authenticator = {
      name: "broken",
      authenticate: () => {
        throw new Error("redis: connection refused");
      },
    };
    const closed: Authenticator = {
      name: "closed",
      authenticate: () => {
        throw new AuthError("store_closed", "token store is closed");
      },
    };
    const internal = await errorOf(
      setup({ authenticators: [broken, apiKeys] }).control.getHealth(
        {},
        { headers: { "x-api-key": "bad" } },
      ),
    );
    expect(internal.code).toBe(Code.Internal);
    expect(internal.rawMessage).toBe("authentication could not be completed");
    const unavailable = await errorOf(setup({ authenticators: [closed] }).control.getHealth({}));
    expect(unavailable.code).toBe(Code.Unavailable);
    // ... but a later authenticator that accepts still wins.
    const ok = await setup({ authenticators: [broken, apiKeys] }).control.getHealth(
      {},
      { headers: { "x-api-key": API_KEY } },
    );
    expect(ok.reason).toBe("api-key:admin");
  });

  it("gives interceptors the identity through req.contextValues", async () => {
    const seen: string[] = [];
    const spy: Interceptor = (next) => (req) => {
      seen.push(getAuthContext(req.contextValues)?.identity ?? "none");
      return next(req);
    };
    const { control } = setup({}, [], { serverInterceptors: [spy] });
    await control.getHealth({}, { headers: { "x-api-key": API_KEY } });
    expect(seen).toEqual(["admin"]);
  });

  it.each<[unknown, string]>([
    [
      { authenticators: [] },
      "createAuthInterceptor: authenticators must be a non-empty array, e.g. [bearerAuthenticator({ validate })]",
    ],
    [
      { authenticators: [{}] },
      "createAuthInterceptor: authenticators[0] has no authenticate(req) method",
    ],
    [
      { authenticators: [apiKeys], required: "yes" },
      "createAuthInterceptor: required must be a boolean or a function (req) => boolean",
    ],
  ])("rejects invalid options %#", (options, message) => {
    expect(() => createAuthInterceptor(options as AuthInterceptorOptions)).toThrow(message);
  });
});

describe("requireAuth and createAuthorizationInterceptor", () => {
  it("requireAuth refuses anonymous calls", async () => {
    const { control } = setup({ required: false }, [], { serverInterceptors: [requireAuth()] });
    expect((await errorOf(control.getHealth({}))).code).toBe(Code.Unauthenticated);
    expect((await control.getHealth({}, { headers: { "x-api-key": API_KEY } })).reason).toBe(
      "api-key:admin",
    );
  });

  it("answers permission_denied when the predicate says no, for unary and streaming", async () => {
    const onlyBilling = createAuthorizationInterceptor(
      async (auth) => auth.claims.selfId === "billing",
    );
    const { control, health, calls } = setup({}, [], { serverInterceptors: [onlyBilling] });
    const billing = store.issue("rt-b", { selfId: "billing" });
    const other = store.issue("rt-o", { selfId: "other" });
    const as = (id: string, token: string) => ({
      headers: { authorization: `Bearer ${token}`, [RUNTIME_ID_HEADER]: id },
    });
    expect((await control.getHealth({}, as("rt-b", billing.token))).reason).toBe("token:rt-b");
    const denied = await errorOf(control.getHealth({}, as("rt-o", other.token)));
    expect(denied.code).toBe(Code.PermissionDenied);
    expect(denied.rawMessage).toBe("permission denied");
    const deniedStream = await errorOf(drain(health.watch({}, as("rt-o", other.token))));
    expect(deniedStream.code).toBe(Code.PermissionDenied);
    expect(calls).toEqual(["getHealth token:rt-b"]);
  });

  it("answers unauthenticated when there is no identity to authorize", async () => {
    const { control } = setup({ required: false }, [], {
      serverInterceptors: [createAuthorizationInterceptor(() => true)],
    });
    const error = await errorOf(control.getHealth({}));
    expect(error.code).toBe(Code.Unauthenticated);
    expect(error.rawMessage).toBe("authentication required");
  });

  it("rejects a non-function predicate", () => {
    expect(() => createAuthorizationInterceptor(undefined as never)).toThrow(
      "createAuthorizationInterceptor: predicate must be a function (auth, req) => boolean",
    );
  });
});
