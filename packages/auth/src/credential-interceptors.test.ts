import { Code, ConnectError, createClient, createRouterTransport } from "@connectrpc/connect";
import { PluginControl, RUNTIME_ID_HEADER } from "@cpg/protocol";
import { describe, expect, it } from "vitest";
import { apiKeyAuthenticator } from "./api-key-authenticator.js";
import { createApiKeyCredentialInterceptor } from "./api-key-credential-interceptor.js";
import { isAuthError } from "./auth-error.js";
import { createAuthInterceptor } from "./auth-interceptor.js";
import { bearerAuthenticator } from "./bearer-authenticator.js";
import { createBearerCredentialInterceptor } from "./bearer-credential-interceptor.js";
import type { CredentialSource } from "./credential-source.js";
import { createMemoryTokenStore } from "./memory-token-store.js";
import { createWhoAmIRoutes } from "./test-service.js";

/** A server accepting runtime tokens from `store` and the API key `k-123`. */
function server() {
  const store = createMemoryTokenStore({ sweepIntervalMs: 0 });
  const seen: (string | null)[] = [];
  const routes = createWhoAmIRoutes().routes;
  const auth = createAuthInterceptor({
    authenticators: [
      bearerAuthenticator({
        validate: (token, req) => {
          seen.push(req.header.get("authorization"));
          const id = req.header.get(RUNTIME_ID_HEADER) ?? "";
          return store.verify(id, token) ? { identity: id } : undefined;
        },
      }),
      apiKeyAuthenticator({
        validate: (key) => (key === "k-123" ? { identity: "ops" } : undefined),
      }),
    ],
  });
  const client = (interceptor: ReturnType<typeof createApiKeyCredentialInterceptor>) =>
    createClient(
      PluginControl,
      createRouterTransport(routes, {
        router: { interceptors: [auth] },
        transport: { interceptors: [interceptor] },
      }),
    );
  return { store, seen, client };
}

describe("createBearerCredentialInterceptor", () => {
  it("sends Authorization: Bearer on every call", async () => {
    const { store, client, seen } = server();
    const { token } = store.issue("rt-1", undefined);
    const control = client(createBearerCredentialInterceptor(token));
    const res = await control.getHealth({}, { headers: { [RUNTIME_ID_HEADER]: "rt-1" } });
    expect(res.reason).toBe("token:rt-1");
    await control.getHealth({}, { headers: { [RUNTIME_ID_HEADER]: "rt-1" } });
    expect(seen).toEqual([`Bearer ${token}`, `Bearer ${token}`]);
    store.close();
  });

  it("calls a getter before each call, so a refreshed token is used", async () => {
    const { store, client } = server();
    let current = store.issue("rt-1", undefined).token;
    const control = client(createBearerCredentialInterceptor(async () => current));
    const call = () => control.getHealth({}, { headers: { [RUNTIME_ID_HEADER]: "rt-1" } });
    await call();
    current = store.refresh("rt-1", { rotate: true })!.token;
    expect((await call()).reason).toBe("token:rt-1");
    store.close();
  });

  it("replaces an Authorization header set by the caller", async () => {
    const { store, client, seen } = server();
    const { token } = store.issue("rt-1", undefined);
    const control = client(createBearerCredentialInterceptor(token));
    await control.getHealth(
      {},
      { headers: { [RUNTIME_ID_HEADER]: "rt-1", authorization: "Basic x" } },
    );
    expect(seen).toEqual([`Bearer ${token}`]);
    store.close();
  });

  it.each(["", "two words", "line\nbreak", "ünïcode"])(
    "refuses the fixed token %j at once",
    (token) => {
      let error: unknown;
      try {
        createBearerCredentialInterceptor(token);
      } catch (e) {
        error = e;
      }
      expect(isAuthError(error, "invalid_options")).toBe(true);
      expect((error as Error).message).toBe(
        "createBearerCredentialInterceptor: the credential is empty or has invalid characters",
      );
    },
  );

  it("fails the call, without sending it, when the getter returns an invalid token", async () => {
    const { client, seen } = server();
    const control = client(createBearerCredentialInterceptor(() => ""));
    const error = ConnectError.from(await control.getHealth({}).catch((e: unknown) => e));
    // Connect wraps errors thrown by client interceptors; the AuthError is the cause.
    expect(error.code).toBe(Code.Unknown);
    expect(isAuthError(error.cause, "invalid_credentials")).toBe(true);
    expect(error.rawMessage).toBe(
      "createBearerCredentialInterceptor: the credential getter returned an empty or invalid value",
    );
    expect(seen).toEqual([]);
  });

  it("refuses something that is neither a string nor a function", () => {
    expect(() => createBearerCredentialInterceptor(42 as unknown as CredentialSource)).toThrow(
      "createBearerCredentialInterceptor: expected a string or a function returning one",
    );
  });
});

describe("createApiKeyCredentialInterceptor", () => {
  it("sends X-API-Key on every call, fixed or from a getter", async () => {
    const { client, store } = server();
    expect((await client(createApiKeyCredentialInterceptor("k-123")).getHealth({})).reason).toBe(
      "api-key:ops",
    );
    expect(
      (await client(createApiKeyCredentialInterceptor(() => "k-123")).getHealth({})).reason,
    ).toBe("api-key:ops");
    const wrong = await client(createApiKeyCredentialInterceptor("k-124"))
      .getHealth({})
      .catch((e: unknown) => ConnectError.from(e));
    expect((wrong as ConnectError).code).toBe(Code.Unauthenticated);
    store.close();
  });

  it("refuses an invalid fixed key at once", () => {
    expect(() => createApiKeyCredentialInterceptor("with space")).toThrow(
      "createApiKeyCredentialInterceptor: the credential is empty or has invalid characters",
    );
  });
});
