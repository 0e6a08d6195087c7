/**
 * @cpg/auth: authentication for Connect services, and the secure primitives
 * cpg builds on.
 *
 * - Server: {@link createAuthInterceptor} with {@link bearerAuthenticator},
 *   {@link apiKeyAuthenticator} and {@link mtlsAuthenticator};
 *   {@link requireAuth} and {@link createAuthorizationInterceptor}. Handlers
 *   read the identity with {@link getAuthContext}.
 * - Client: {@link createBearerCredentialInterceptor},
 *   {@link createApiKeyCredentialInterceptor}.
 * - Primitives: {@link generateToken}, {@link generateId},
 *   {@link constantTimeEqual}, {@link createMemoryTokenStore}.
 * - Node only, from `@cpg/auth/node`: the peer certificate for
 *   `connectNodeAdapter` and TLS client options for connect-node transports.
 *
 * @example
 * ```ts
 * import { bearerAuthenticator, createAuthInterceptor, getAuthContext } from "@cpg/auth";
 * ```
 *
 * @packageDocumentation
 */

export type { ApiKeyAuthenticatorOptions } from "./api-key-authenticator.js";
export { apiKeyAuthenticator } from "./api-key-authenticator.js";
export { createApiKeyCredentialInterceptor } from "./api-key-credential-interceptor.js";
export type { AuthContext } from "./auth-context.js";
export { authContextKey, getAuthContext, setAuthContext } from "./auth-context.js";
export type { AuthErrorCode } from "./auth-error.js";
export { AuthError, authErrorToConnectError, isAuthError } from "./auth-error.js";
export type { AuthInterceptorOptions } from "./auth-interceptor.js";
export { createAuthInterceptor } from "./auth-interceptor.js";
export type { Authenticator, AuthRequest, ValidatedIdentity } from "./authenticator.js";
export type { AuthorizationPredicate } from "./authorization-interceptor.js";
export { createAuthorizationInterceptor } from "./authorization-interceptor.js";
export type { BearerAuthenticatorOptions } from "./bearer-authenticator.js";
export { bearerAuthenticator } from "./bearer-authenticator.js";
export { createBearerCredentialInterceptor } from "./bearer-credential-interceptor.js";
export { constantTimeEqual } from "./constant-time-equal.js";
export type { CredentialSource } from "./credential-source.js";
export { eventLoopNow } from "./event-loop-clock.js";
export type { RandomSource } from "./generate-token.js";
export { generateId, generateToken, systemRandomSource } from "./generate-token.js";
export type { MemoryTokenStore, MemoryTokenStoreOptions } from "./memory-token-store.js";
export { createMemoryTokenStore } from "./memory-token-store.js";
export type {
  CertificateIdentitySource,
  MtlsAuthenticatorOptions,
  MtlsClaims,
} from "./mtls-authenticator.js";
export { mtlsAuthenticator } from "./mtls-authenticator.js";
export type { PeerCertificate } from "./peer-certificate.js";
export { getPeerCertificate, peerCertificateKey } from "./peer-certificate.js";
export { requireAuth } from "./require-auth.js";
export type { SpiffeId } from "./spiffe-id.js";
export { parseSpiffeId } from "./spiffe-id.js";
export type {
  IssueTokenOptions,
  MaybePromise,
  RefreshTokenOptions,
  TokenEntry,
  TokenRemovalReason,
  TokenStore,
} from "./token-store.js";
