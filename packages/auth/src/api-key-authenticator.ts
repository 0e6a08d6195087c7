import { API_KEY_HEADER } from "@cpg/protocol";
import { AuthError } from "./auth-error.js";
import {
  type Authenticator,
  type AuthRequest,
  toAuthContext,
  type ValidatedIdentity,
} from "./authenticator.js";
import { isApiKeySyntax } from "./credential-syntax.js";

/** Options of {@link apiKeyAuthenticator}. */
export interface ApiKeyAuthenticatorOptions {
  /**
   * Checks an API key. Returns the key owner's identity, or `undefined` when
   * the key is not valid. Compare keys with `constantTimeEqual` (or look up a
   * hash of the key). Required.
   */
  readonly validate: (
    key: string,
    req: AuthRequest,
  ) => ValidatedIdentity | undefined | Promise<ValidatedIdentity | undefined>;
  /** `provider` of the resulting `AuthContext`. Default: `"api-key"`. */
  readonly provider?: string;
}

/**
 * Creates an {@link Authenticator} for the `X-API-Key` header. No header:
 * absent. An empty or malformed key, or one `validate` rejects:
 * `invalid_credentials`, answered `unauthenticated`.
 *
 * @example
 * ```ts
 * const apiKeys = apiKeyAuthenticator({
 *   validate: (key) => (constantTimeEqual(key, process.env.ADMIN_KEY ?? "") ? { identity: "admin" } : undefined),
 * });
 * ```
 */
export function apiKeyAuthenticator(options: ApiKeyAuthenticatorOptions): Authenticator {
  if (typeof options?.validate !== "function") {
    throw new AuthError(
      "invalid_options",
      "apiKeyAuthenticator: validate must be a function (key, req) => identity | undefined",
    );
  }
  const { validate } = options;
  const provider = options.provider ?? "api-key";
  return {
    name: "api-key",
    async authenticate(req) {
      const key = req.header.get(API_KEY_HEADER);
      if (key === null) return undefined;
      if (!isApiKeySyntax(key)) {
        throw new AuthError("invalid_credentials", "malformed X-API-Key header");
      }
      const auth = toAuthContext(await validate(key, req), provider);
      if (auth === undefined) {
        throw new AuthError("invalid_credentials", "API key rejected");
      }
      return auth;
    },
  };
}
