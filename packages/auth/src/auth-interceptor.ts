import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { type AuthContext, setAuthContext } from "./auth-context.js";
import { AuthError, authErrorToConnectError, isAuthError } from "./auth-error.js";
import type { Authenticator, AuthRequest } from "./authenticator.js";

/** Options of {@link createAuthInterceptor}. */
export interface AuthInterceptorOptions {
  /** Tried in order; the first that accepts the call wins. At least one. */
  readonly authenticators: readonly Authenticator[];
  /**
   * Whether a call without any credential is refused with `unauthenticated`,
   * or a function deciding per call (e.g. to let a health check through).
   * A call that presents a credential which no authenticator accepts is
   * refused either way. Default: `true`.
   */
  readonly required?: boolean | ((req: AuthRequest) => boolean);
}

/**
 * Creates a server interceptor that authenticates every call, unary and
 * streaming, before the handler runs. It asks each authenticator in order:
 *
 * - the first that returns an identity wins: the {@link AuthContext} is set
 *   in the call's context values (`getAuthContext(ctx.values)`) and the
 *   handler runs, exactly once;
 * - if none accepts and one failed to decide (threw something other than a
 *   rejection), that error is raised rather than hiding an outage behind
 *   `unauthenticated`: a `ConnectError` as is, an `AuthError` through
 *   `authErrorToConnectError`, anything else as `internal` "authentication
 *   could not be completed" (its message stays server-side, as `cause`);
 * - if a credential was presented and rejected: `unauthenticated`,
 *   "invalid credentials" (the reason stays server-side, as `cause`);
 * - if no credential was presented: `unauthenticated`, "authentication
 *   required", unless `required` says otherwise; then the call proceeds
 *   without identity.
 *
 * @example
 * ```ts
 * const auth = createAuthInterceptor({
 *   authenticators: [
 *     mtlsAuthenticator(),
 *     bearerAuthenticator({ validate: (token, req) => lookUp(token, req) }),
 *   ],
 * });
 * connectNodeAdapter({ routes, interceptors: [auth], contextValues: peerCertificateContextValues });
 * ```
 */
export function createAuthInterceptor(options: AuthInterceptorOptions): Interceptor {
  const { authenticators, required } = resolveOptions(options);
  return (next) => async (req) => {
    let rejection: unknown;
    let failure: unknown;
    for (const authenticator of authenticators) {
      let auth: AuthContext | undefined;
      try {
        auth = await authenticator.authenticate(req);
      } catch (error) {
        if (isRejection(error)) {
          rejection ??= error;
        } else {
          failure ??= error;
        }
        continue;
      }
      if (auth !== undefined) {
        // Outside the try: an error from the handler must not be mistaken for
        // a rejection and make us try the next authenticator (and run the
        // handler again).
        setAuthContext(req.contextValues, auth);
        return await next(req);
      }
    }
    if (failure !== undefined) {
      throw isAuthError(failure) || failure instanceof ConnectError
        ? authErrorToConnectError(failure)
        : new ConnectError(
            "authentication could not be completed",
            Code.Internal,
            undefined,
            undefined,
            failure,
          );
    }
    if (rejection !== undefined) {
      throw new ConnectError(
        "invalid credentials",
        Code.Unauthenticated,
        undefined,
        undefined,
        rejection,
      );
    }
    if (required(req)) {
      throw new ConnectError("authentication required", Code.Unauthenticated);
    }
    return await next(req);
  };
}

function isRejection(error: unknown): boolean {
  return (
    isAuthError(error, "invalid_credentials") ||
    (error instanceof ConnectError && error.code === Code.Unauthenticated)
  );
}

function resolveOptions(options: AuthInterceptorOptions): {
  authenticators: readonly Authenticator[];
  required: (req: AuthRequest) => boolean;
} {
  const authenticators = options?.authenticators;
  if (!Array.isArray(authenticators) || authenticators.length === 0) {
    throw invalid(
      "authenticators must be a non-empty array, e.g. [bearerAuthenticator({ validate })]",
    );
  }
  for (const [i, a] of authenticators.entries()) {
    if (typeof a?.authenticate !== "function") {
      throw invalid(`authenticators[${i}] has no authenticate(req) method`);
    }
  }
  const required = options.required ?? true;
  if (typeof required !== "boolean" && typeof required !== "function") {
    throw invalid("required must be a boolean or a function (req) => boolean");
  }
  return {
    authenticators: [...authenticators],
    required: typeof required === "function" ? required : () => required,
  };
}

function invalid(message: string): AuthError {
  return new AuthError("invalid_options", `createAuthInterceptor: ${message}`);
}
