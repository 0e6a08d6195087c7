import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { getAuthContext } from "./auth-context.js";

/**
 * Creates a server interceptor that refuses calls without an authenticated
 * identity with `unauthenticated` ("authentication required"). Place it after
 * (inside) an auth interceptor whose `required` is `false` for some calls, to
 * require identity on a subset of services.
 *
 * @example
 * ```ts
 * connectNodeAdapter({
 *   routes,
 *   interceptors: [createAuthInterceptor({ authenticators, required: false }), requireAuth()],
 * });
 * ```
 */
export function requireAuth(): Interceptor {
  return (next) => async (req) => {
    if (getAuthContext(req.contextValues) === undefined) {
      throw new ConnectError("authentication required", Code.Unauthenticated);
    }
    return await next(req);
  };
}
