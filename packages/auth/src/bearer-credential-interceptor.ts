import type { Interceptor } from "@connectrpc/connect";
import { AUTHORIZATION_HEADER, bearer } from "@cpg/protocol";
import { AuthError } from "./auth-error.js";
import { type CredentialSource, credentialResolver } from "./credential-source.js";
import { isBearerTokenSyntax } from "./credential-syntax.js";

/**
 * Creates a client interceptor that sends `Authorization: Bearer <token>` on
 * every call (replacing any `Authorization` header already set). Pass the
 * token, or a getter called before each call so a refreshed token is picked
 * up. A fixed token that is empty or not a valid token throws `AuthError`
 * `invalid_options` at once; a getter returning one fails the call (Connect
 * reports a `ConnectError` whose `cause` is an `AuthError`
 * `invalid_credentials`).
 *
 * @example
 * ```ts
 * const transport = createConnectTransport({
 *   baseUrl: hostUrl,
 *   httpVersion: "1.1",
 *   interceptors: [createBearerCredentialInterceptor(() => identity.runtimeToken)],
 * });
 * ```
 */
export function createBearerCredentialInterceptor(token: CredentialSource): Interceptor {
  const resolve = credentialResolver(
    token,
    isBearerTokenSyntax,
    (message) =>
      new AuthError(
        typeof token === "function" ? "invalid_credentials" : "invalid_options",
        `createBearerCredentialInterceptor: ${message}`,
      ),
  );
  return (next) => async (req) => {
    req.header.set(AUTHORIZATION_HEADER, bearer(await resolve(req)));
    return await next(req);
  };
}
