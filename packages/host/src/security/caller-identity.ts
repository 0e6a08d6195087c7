import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import { getAuthContext } from "@cpg/auth";
import type { RuntimeIdentities } from "../identity/runtime-identities.js";
import type { RuntimeIdentity } from "../identity/runtime-identity.js";
import { RUNTIME_TOKEN_PROVIDER } from "./runtime-token-authenticator.js";

/**
 * The runtime identity behind a host call, as established by the host's
 * authentication interceptor; `unauthenticated` when there is none.
 */
export function callerIdentity(
  identities: RuntimeIdentities,
  ctx: HandlerContext,
): RuntimeIdentity {
  const auth = getAuthContext(ctx.values);
  const identity =
    auth?.provider === RUNTIME_TOKEN_PROVIDER ? identities.get(auth.identity) : undefined;
  if (identity === undefined) {
    throw new ConnectError(
      "this call needs a runtime identity from the handshake",
      Code.Unauthenticated,
    );
  }
  return identity;
}
