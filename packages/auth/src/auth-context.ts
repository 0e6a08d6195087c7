import { type ContextValues, createContextKey } from "@connectrpc/connect";

/**
 * The authenticated identity of a call, put into Connect's context values by
 * the authentication interceptors of this package and read by handlers,
 * later interceptors (rate limits, authorization, audit) and the host.
 */
export interface AuthContext {
  /**
   * Who the caller is: a runtime id, an API-key owner, a SPIFFE ID, a
   * certificate common name, ... as decided by the provider.
   */
  readonly identity: string;
  /**
   * Which authenticator established the identity, e.g. `"token"`,
   * `"api-key"` or `"mtls"`.
   */
  readonly provider: string;
  /**
   * Further facts the provider established (certificate organization, trust
   * domain, key scopes, ...). Never contains the credential itself.
   */
  readonly claims: Readonly<Record<string, unknown>>;
}

/**
 * Context key under which the authentication interceptors store the
 * {@link AuthContext} of a call. Its default is `undefined`: unauthenticated.
 */
export const authContextKey = createContextKey<AuthContext | undefined>(undefined, {
  description: "cpg authenticated identity",
});

/**
 * Returns the authenticated identity of a call, or `undefined` when no
 * authenticator accepted it. Works with `ctx.values` in handlers and
 * `req.contextValues` in interceptors.
 *
 * @example
 * ```ts
 * const auth = getAuthContext(ctx.values);
 * if (auth) console.log(`${auth.identity} via ${auth.provider}`);
 * ```
 */
export function getAuthContext(values: ContextValues): AuthContext | undefined {
  return values.get(authContextKey);
}

/**
 * Stores an authenticated identity in the context values of a call.
 */
export function setAuthContext(values: ContextValues, auth: AuthContext): void {
  values.set(authContextKey, auth);
}
