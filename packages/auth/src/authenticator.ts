import type { StreamRequest, UnaryRequest } from "@connectrpc/connect";
import type { AuthContext } from "./auth-context.js";
import { AuthError } from "./auth-error.js";

/**
 * A call as interceptors see it, unary or streaming: what an
 * {@link Authenticator} inspects on the server and what a credential getter
 * receives on the client.
 */
export type AuthRequest = UnaryRequest | StreamRequest;

/**
 * Establishes who is calling from one kind of credential (a bearer token, an
 * API key, a client certificate, ...). `createAuthInterceptor` tries a list
 * of them in order.
 *
 * `authenticate` returns:
 * - an {@link AuthContext} when its credential is present and valid;
 * - `undefined` when its credential is absent (another authenticator may
 *   apply);
 * - throws `AuthError` with code `"invalid_credentials"` (or a `ConnectError`
 *   with `Code.Unauthenticated`) when its credential is present but invalid.
 *   Any other error means it could not decide (e.g. its database is down).
 *
 * @example
 * ```ts
 * const sharedSecret: Authenticator = {
 *   name: "shared-secret",
 *   authenticate(req) {
 *     const secret = req.header.get("x-shared-secret");
 *     if (secret === null) return undefined; // absent: let others try
 *     if (!constantTimeEqual(secret, expected)) {
 *       throw new AuthError("invalid_credentials", "shared secret rejected");
 *     }
 *     return { identity: "peer", provider: "shared-secret", claims: {} };
 *   },
 * };
 * ```
 */
export interface Authenticator {
  /** Short name for messages and logs, e.g. `"bearer"`. */
  readonly name: string;
  /** See the interface documentation. */
  authenticate(req: AuthRequest): AuthContext | undefined | Promise<AuthContext | undefined>;
}

/**
 * What a credential validator returns for a valid credential: at least the
 * identity. `provider` and `claims` default to the authenticator's provider
 * name and `{}`. A full {@link AuthContext} fits.
 */
export interface ValidatedIdentity {
  /** Who the caller is. Must be non-empty. */
  readonly identity: string;
  /** Overrides the authenticator's provider name. */
  readonly provider?: string;
  /** Further facts about the caller; never the credential itself. */
  readonly claims?: Readonly<Record<string, unknown>>;
}

/**
 * Turns a validator's answer into a frozen {@link AuthContext}.
 * @private
 */
export function toAuthContext(
  result: ValidatedIdentity | undefined,
  provider: string,
): AuthContext | undefined {
  if (result === undefined || result === null) return undefined;
  if (typeof result.identity !== "string" || result.identity.length === 0) {
    throw new AuthError("invalid_credentials", `${provider} validator returned an empty identity`);
  }
  return Object.freeze({
    identity: result.identity,
    provider: result.provider ?? provider,
    claims: Object.freeze({ ...result.claims }),
  });
}
