/**
 * @cpg/auth/node: the Node-only part of `@cpg/auth`.
 *
 * - {@link peerCertificateContextValues} / {@link attachPeerCertificate}: the
 *   client certificate of a TLS request, for `connectNodeAdapter`'s
 *   `contextValues` option (read by `mtlsAuthenticator`).
 * - {@link createTlsClientOptions} / {@link loadTlsClientOptions}: validated
 *   mTLS options for connect-node transports.
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
export type {
  TlsClientCredentials,
  TlsClientFiles,
  TlsClientOptions,
} from "./node-tls-client-options.js";
export { createTlsClientOptions, loadTlsClientOptions } from "./node-tls-client-options.js";
