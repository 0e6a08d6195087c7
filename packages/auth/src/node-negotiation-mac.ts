import { createHmac } from "node:crypto";

/**
 * The MAC a cpg host puts in `negotiation_mac`: HMAC-SHA256, keyed with the
 * runtime token it issues, over the negotiated versions, the versions the
 * host supports, the client's nonce and the runtime id (base64url). A plugin
 * that recomputes it detects a response altered in transit by anyone who did
 * not also rewrite the token; TLS remains what makes the channel trustworthy.
 */
export function negotiationMac(fields: {
  runtimeToken: string;
  coreProtocolVersion: number;
  appProtocolVersion: number;
  supportedAppProtocolVersions: readonly number[];
  nonce: string;
  runtimeId: string;
}): string {
  const text = [
    "cpg-negotiation-v1",
    fields.coreProtocolVersion,
    fields.appProtocolVersion,
    fields.supportedAppProtocolVersions.join(","),
    fields.nonce,
    fields.runtimeId,
  ].join("|");
  return createHmac("sha256", fields.runtimeToken).update(text).digest("base64url");
}
