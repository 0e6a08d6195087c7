import { Code, ConnectError } from "@connectrpc/connect";
import { type Authenticator, constantTimeEqual } from "@cpg/auth";
import { API_KEY_HEADER } from "@cpg/protocol";
import { verifiedPeerIdentity } from "../security/peer-identity.js";

/**
 * What an operator may do on the admin API: `viewer` reads, `operator`
 * also changes (add, remove, replace plugins, revoke grants).
 */
export type OperatorRole = "viewer" | "operator";

/**
 * Who may use the host's admin API.
 */
export interface AdminAccess {
  /** API keys (sent as `X-API-Key`) and who they are. Default: none. */
  readonly apiKeys?: Readonly<
    Record<string, { readonly identity: string; readonly role: OperatorRole }>
  >;
  /** Client-certificate identities (SPIFFE ID or CN) with the operator role. Default: none. */
  readonly operators?: readonly string[];
}

/** `AuthContext.provider` of operators. */
export const OPERATOR_PROVIDER = "operator";

/**
 * Authenticates operators: an `X-API-Key` listed in `access.apiKeys`
 * (compared in constant time against every key), or a verified client
 * certificate whose identity is in `access.operators`. A call with neither
 * is left to other authenticators; an unknown API key is `unauthenticated`.
 */
export function operatorAuthenticator(access: AdminAccess): Authenticator {
  const keys = Object.entries(access.apiKeys ?? {});
  const operators = new Set(access.operators ?? []);
  return {
    name: OPERATOR_PROVIDER,
    authenticate(req) {
      const key = req.header.get(API_KEY_HEADER);
      if (key !== null) {
        let match: (typeof keys)[number][1] | undefined;
        for (const [candidate, who] of keys) {
          if (constantTimeEqual(key, candidate)) match = who;
        }
        if (match === undefined) throw new ConnectError("unknown API key", Code.Unauthenticated);
        return {
          identity: match.identity,
          provider: OPERATOR_PROVIDER,
          claims: { role: match.role, via: "api-key" },
        };
      }
      const peer = verifiedPeerIdentity(req.contextValues);
      if (peer !== undefined && operators.has(peer)) {
        return {
          identity: peer,
          provider: OPERATOR_PROVIDER,
          claims: { role: "operator", via: "mtls" },
        };
      }
      return undefined;
    },
  };
}
