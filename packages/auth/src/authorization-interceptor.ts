import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { type AuthContext, getAuthContext } from "./auth-context.js";
import { AuthError } from "./auth-error.js";
import type { AuthRequest } from "./authenticator.js";

/**
 * Decides whether an authenticated caller may make a call. Sync or async.
 */
export type AuthorizationPredicate = (
  auth: AuthContext,
  req: AuthRequest,
) => boolean | Promise<boolean>;

/**
 * Creates a server interceptor that authorizes every call, unary and
 * streaming, with `predicate` on the identity set by an auth interceptor
 * (which must run first, i.e. come earlier in `interceptors`). No identity:
 * `unauthenticated` ("authentication required"). Predicate returns false:
 * `permission_denied` ("permission denied"). An error thrown by the
 * predicate propagates (Connect answers it as usual).
 *
 * @example
 * ```ts
 * const adminsOnly = createAuthorizationInterceptor(
 *   (auth) => auth.provider === "mtls" && auth.claims.trustDomain === "example.org",
 * );
 * ```
 */
export function createAuthorizationInterceptor(predicate: AuthorizationPredicate): Interceptor {
  if (typeof predicate !== "function") {
    throw new AuthError(
      "invalid_options",
      "createAuthorizationInterceptor: predicate must be a function (auth, req) => boolean",
    );
  }
  return (next) => async (req) => {
    const auth = getAuthContext(req.contextValues);
    if (auth === undefined) {
      throw new ConnectError("authentication required", Code.Unauthenticated);
    }
    if ((await predicate(auth, req)) !== true) {
      throw new ConnectError("permission denied", Code.PermissionDenied);
    }
    return await next(req);
  };
}
