import { createHash, createHmac } from "node:crypto";
import { toBinary } from "@bufbuild/protobuf";
import type { AuthRequest } from "./authenticator.js";

/**
 * Header names of a signed request. `key`: the signing key id; `timestamp`:
 * Unix milliseconds; `nonce`: 16 random bytes, base64url; `signature`:
 * HMAC-SHA256, base64url; `body`: `none` on streaming calls, whose message
 * contents the signature does not cover.
 * @private
 */
export const signatureHeaders = {
  key: "x-cpg-signature-key",
  timestamp: "x-cpg-signature-timestamp",
  nonce: "x-cpg-signature-nonce",
  signature: "x-cpg-signature",
  body: "x-cpg-signature-body",
} as const;

/** The value of `x-cpg-signature-body` on streaming calls. @private */
export const BODY_NOT_SIGNED = "none";

/** A signing secret: a string (its UTF-8 bytes) or raw bytes. */
export type SigningSecret = string | Uint8Array;

/** What a signature binds besides the call itself. @private */
export interface SignatureFields {
  readonly keyId: string;
  readonly timestamp: string;
  readonly nonce: string;
}

/**
 * The canonical string a request signature covers, one field per line:
 *
 * ```text
 * cpg-request-signature-v1
 * POST
 * /<package>.<Service>/<Method>
 * <key id>
 * <timestamp, Unix ms>
 * <nonce>
 * sha256:<base64url SHA-256 of the binary request message> | none
 * ```
 *
 * The method is always `POST`, the RPC's method: Connect's client
 * interceptors run before a transport may switch a side-effect-free call to
 * GET. The path is the procedure's, independent of any base URL prefix.
 * Unary calls digest `toBinary(req.method.input, req.message)`; streaming
 * calls put `none` there (TLS protects stream contents).
 * @private
 */
export function canonicalRequest(req: AuthRequest, fields: SignatureFields): string {
  return [
    "cpg-request-signature-v1",
    "POST",
    `/${req.service.typeName}/${req.method.name}`,
    fields.keyId,
    fields.timestamp,
    fields.nonce,
    bodyDigest(req),
  ].join("\n");
}

/** HMAC-SHA256 of `canonical` keyed with `secret`, base64url. @private */
export function computeSignature(secret: SigningSecret, canonical: string): string {
  return createHmac("sha256", secret).update(canonical, "utf8").digest("base64url");
}

/** The byte length of a {@link SigningSecret}; -1 for anything else. @private */
export function secretLength(secret: unknown): number {
  if (typeof secret === "string") return Buffer.byteLength(secret, "utf8");
  if (secret instanceof Uint8Array) return secret.byteLength;
  return -1;
}

function bodyDigest(req: AuthRequest): string {
  if (req.stream) return BODY_NOT_SIGNED;
  const bytes = toBinary(req.method.input, req.message);
  return `sha256:${createHash("sha256").update(bytes).digest("base64url")}`;
}
