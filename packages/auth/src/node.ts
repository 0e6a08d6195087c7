/**
 * @cpg/auth/node: the Node-only part of `@cpg/auth`.
 *
 * - {@link peerCertificateContextValues} / {@link attachPeerCertificate}: the
 *   client certificate of a TLS request, for `connectNodeAdapter`'s
 *   `contextValues` option (read by `mtlsAuthenticator`).
 * - {@link createTlsClientOptions} / {@link loadTlsClientOptions}: validated
 *   mTLS options for connect-node transports.
 * - {@link createRequestSigningInterceptor} /
 *   {@link createRequestVerificationInterceptor}: optional HMAC-SHA256
 *   request signing between plugins and host, with replay protection;
 *   {@link getSignatureKeyId} tells a handler which key signed the call.
 *
 * @example
 * ```ts
 * import { peerCertificateContextValues } from "@cpg/auth/node";
 * ```
 *
 * @packageDocumentation
 */

export { negotiationMac } from "./node-negotiation-mac.js";
export type { NodeServerRequest } from "./node-peer-certificate.js";
export { attachPeerCertificate, peerCertificateContextValues } from "./node-peer-certificate.js";
export type { SigningSecret } from "./node-request-signature.js";
export type { RequestSigningOptions } from "./node-request-signing-interceptor.js";
export { createRequestSigningInterceptor } from "./node-request-signing-interceptor.js";
export type {
  RequestVerificationOptions,
  SigningKeyLookup,
} from "./node-request-verification-interceptor.js";
export { createRequestVerificationInterceptor } from "./node-request-verification-interceptor.js";
export type {
  TlsClientCredentials,
  TlsClientFiles,
  TlsClientOptions,
} from "./node-tls-client-options.js";
export { createTlsClientOptions, loadTlsClientOptions } from "./node-tls-client-options.js";
export { getSignatureKeyId, signatureKeyIdKey } from "./signature-key-id.js";
