import type { Interceptor } from "@connectrpc/connect";
import { API_KEY_HEADER } from "@cpg/protocol";
import { AuthError } from "./auth-error.js";
import { type CredentialSource, credentialResolver } from "./credential-source.js";
import { isApiKeySyntax } from "./credential-syntax.js";

/**
 * Creates a client interceptor that sends `X-API-Key: <key>` on every call
 * (replacing any value already set). Pass the key or a getter called before
 * each call. A fixed key that is empty or contains spaces or non-ASCII
 * characters throws `AuthError` `invalid_options` at once; a getter returning
 * one fails the call (Connect reports a `ConnectError` whose `cause` is an
 * `AuthError` `invalid_credentials`).
 *
 * @example
 * ```ts
 * const transport = createConnectTransport({
 *   baseUrl,
 *   httpVersion: "2",
 *   interceptors: [createApiKeyCredentialInterceptor(apiKey)],
 * });
 * ```
 */
export function createApiKeyCredentialInterceptor(key: CredentialSource): Interceptor {
  const resolve = credentialResolver(
    key,
    isApiKeySyntax,
    (message) =>
      new AuthError(
        typeof key === "function" ? "invalid_credentials" : "invalid_options",
        `createApiKeyCredentialInterceptor: ${message}`,
      ),
  );
  return (next) => async (req) => {
    req.header.set(API_KEY_HEADER, await resolve(req));
    return await next(req);
  };
}
