import { AUTHORIZATION_HEADER, parseBearer } from "@cpg/protocol";
import { AuthError } from "./auth-error.js";
import {
  type Authenticator,
  type AuthRequest,
  toAuthContext,
  type ValidatedIdentity,
} from "./authenticator.js";
import { isBearerTokenSyntax } from "./credential-syntax.js";

/** Options of {@link bearerAuthenticator}. */
export interface BearerAuthenticatorOptions {
  /**
   * Checks a bearer token. Returns the caller's identity, or `undefined` when
   * the token is not valid (unknown, expired, revoked, issued to someone
   * else). Gets the request too, e.g. to read `X-Plugin-Runtime-ID` and
   * verify the token for that runtime. Required.
   */
  readonly validate: (
    token: string,
    req: AuthRequest,
  ) => ValidatedIdentity | undefined | Promise<ValidatedIdentity | undefined>;
  /** `provider` of the resulting `AuthContext`. Default: `"token"`. */
  readonly provider?: string;
}

/**
 * Creates an {@link Authenticator} for `Authorization: Bearer <token>`.
 * No `Authorization` header: absent (the next authenticator may apply).
 * Another scheme, an empty or malformed token, or a token `validate`
 * rejects: `invalid_credentials`, answered `unauthenticated`.
 *
 * @example
 * ```ts
 * const runtimeTokens = bearerAuthenticator({
 *   validate: (token, req) => {
 *     const runtimeId = req.header.get(RUNTIME_ID_HEADER) ?? "";
 *     return store.verify(runtimeId, token) ? { identity: runtimeId } : undefined;
 *   },
 * });
 * ```
 */
export function bearerAuthenticator(options: BearerAuthenticatorOptions): Authenticator {
  if (typeof options?.validate !== "function") {
    throw new AuthError(
      "invalid_options",
      "bearerAuthenticator: validate must be a function (token, req) => identity | undefined",
    );
  }
  const { validate } = options;
  const provider = options.provider ?? "token";
  return {
    name: "bearer",
    async authenticate(req) {
      const header = req.header.get(AUTHORIZATION_HEADER);
      if (header === null) return undefined;
      const token = parseBearer(header);
      if (token === undefined || !isBearerTokenSyntax(token)) {
        throw new AuthError("invalid_credentials", "malformed Authorization header");
      }
      const auth = toAuthContext(await validate(token, req), provider);
      if (auth === undefined) {
        throw new AuthError("invalid_credentials", "bearer token rejected");
      }
      return auth;
    },
  };
}
