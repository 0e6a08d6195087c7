import { Code, ConnectError, type ContextValues } from "@connectrpc/connect";
import type { Authenticator } from "@cpg/auth";
import { AUTHORIZATION_HEADER, parseBearer, RUNTIME_ID_HEADER } from "@cpg/protocol";
import type { RuntimeIdentities } from "../identity/runtime-identities.js";
import type { RuntimeIdentity } from "../identity/runtime-identity.js";
import { verifiedPeerIdentity } from "./peer-identity.js";

/**
 * `AuthContext.provider` of calls authenticated by a runtime token.
 */
export const RUNTIME_TOKEN_PROVIDER = "runtime-token";

/**
 * Checks runtime credentials: `Authorization: Bearer <runtime token>` plus
 * `X-Plugin-Runtime-ID`. The token is compared in constant time with the one
 * issued for that runtime id; a malformed header, a missing runtime id, an
 * expired or revoked identity, a token of another runtime, or (for
 * identities bound to a client certificate) another certificate are all
 * `unauthenticated`. Returns the identity.
 */
export function verifyRuntimeCredentials(
  identities: RuntimeIdentities,
  authorization: string,
  runtimeId: string | null,
  values: ContextValues,
): RuntimeIdentity {
  const token = parseBearer(authorization);
  if (token === undefined) {
    throw new ConnectError(
      'malformed Authorization header: expected "Bearer <runtime token>"',
      Code.Unauthenticated,
    );
  }
  if (runtimeId === null || runtimeId === "") {
    throw new ConnectError(
      "missing X-Plugin-Runtime-ID header: send the runtime id from the handshake with the runtime token",
      Code.Unauthenticated,
    );
  }
  const identity = identities.verify(runtimeId, token);
  if (identity === undefined) {
    throw new ConnectError("invalid, expired or revoked runtime token", Code.Unauthenticated);
  }
  if (
    identity.peerIdentity !== undefined &&
    verifiedPeerIdentity(values) !== identity.peerIdentity
  ) {
    throw new ConnectError(
      "runtime token presented with another client certificate than the one it was issued to",
      Code.Unauthenticated,
    );
  }
  return identity;
}

/**
 * Authenticates host calls with {@link verifyRuntimeCredentials}. A call
 * without an `Authorization` header is left to other authenticators. The
 * identity of the resulting `AuthContext` is the runtime id; `claims.selfId`
 * names the plugin.
 */
export function runtimeTokenAuthenticator(identities: RuntimeIdentities): Authenticator {
  return {
    name: RUNTIME_TOKEN_PROVIDER,
    authenticate(req) {
      const header = req.header.get(AUTHORIZATION_HEADER);
      if (header === null) return undefined;
      const identity = verifyRuntimeCredentials(
        identities,
        header,
        req.header.get(RUNTIME_ID_HEADER),
        req.contextValues,
      );
      return {
        identity: identity.runtimeId,
        provider: RUNTIME_TOKEN_PROVIDER,
        claims: { selfId: identity.selfId, managed: identity.managed },
      };
    },
  };
}
