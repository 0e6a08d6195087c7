import type { ContextValues } from "@connectrpc/connect";
import { getPeerCertificate } from "@cpg/auth";

/**
 * The identity of the verified client certificate of a call: its SPIFFE ID
 * when it carries exactly one `spiffe://` URI SAN, else its first common
 * name. `undefined` without a verified certificate (plaintext, no
 * certificate, or one the TLS layer could not verify).
 */
export function verifiedPeerIdentity(values: ContextValues): string | undefined {
  const cert = getPeerCertificate(values);
  if (cert === undefined || !cert.authorized || cert.validTo.getTime() <= Date.now())
    return undefined;
  if (cert.uris.length === 1 && cert.uris[0]!.startsWith("spiffe://")) return cert.uris[0];
  if (cert.uris.length > 1) return undefined;
  return cert.commonNames[0];
}
