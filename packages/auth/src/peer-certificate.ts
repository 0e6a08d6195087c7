import { type ContextValues, createContextKey } from "@connectrpc/connect";

/**
 * The client certificate of a TLS connection, as the server's TLS stack saw
 * it, in a transport-neutral form. On Node, `attachPeerCertificate` (from
 * `@cpg/auth/node`) fills it from the socket; `mtlsAuthenticator` reads it.
 */
export interface PeerCertificate {
  /**
   * Whether the TLS stack verified the certificate chain against the
   * server's trusted CAs (Node's `socket.authorized`). Only verified
   * certificates authenticate.
   */
  readonly authorized: boolean;
  /** Why verification failed (e.g. `"CERT_HAS_EXPIRED"`), when it did. */
  readonly authorizationError: string | undefined;
  /** Subject common names (CN). Usually one. */
  readonly commonNames: readonly string[];
  /** Subject organizations (O). */
  readonly organizations: readonly string[];
  /** URI subject alternative names, e.g. a SPIFFE ID. */
  readonly uris: readonly string[];
  /** DNS subject alternative names. */
  readonly dnsNames: readonly string[];
  /** Email (rfc822Name) subject alternative names. */
  readonly emails: readonly string[];
  /** IP address subject alternative names. */
  readonly ipAddresses: readonly string[];
  /** SHA-256 fingerprint of the DER certificate, lower-case hex without colons. */
  readonly fingerprint256: string;
  /** Serial number, upper-case hex. */
  readonly serialNumber: string;
  /** Start of validity. */
  readonly validFrom: Date;
  /** End of validity. */
  readonly validTo: Date;
}

/**
 * Context key holding the {@link PeerCertificate} of the current call;
 * `undefined` (the default) for plaintext connections and TLS clients that
 * sent no certificate.
 */
export const peerCertificateKey = createContextKey<PeerCertificate | undefined>(undefined, {
  description: "cpg TLS peer certificate",
});

/**
 * Returns the client certificate of the current call, or `undefined`. Works
 * with `ctx.values` in handlers and `req.contextValues` in interceptors.
 */
export function getPeerCertificate(values: ContextValues): PeerCertificate | undefined {
  return values.get(peerCertificateKey);
}
