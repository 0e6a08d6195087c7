import type { Interceptor } from "@connectrpc/connect";
import { AuthError } from "./auth-error.js";
import { generateToken } from "./generate-token.js";
import {
  BODY_NOT_SIGNED,
  canonicalRequest,
  computeSignature,
  type SigningSecret,
  secretLength,
  signatureHeaders,
} from "./node-request-signature.js";

/** Smallest accepted signing secret: 16 bytes. */
const MIN_SECRET_BYTES = 16;
const KEY_ID = /^[\x21-\x7e]{1,256}$/;

/** Options of {@link createRequestSigningInterceptor}. */
export interface RequestSigningOptions {
  /**
   * Names the secret for the verifier, sent as `x-cpg-signature-key`:
   * 1 to 256 visible ASCII characters, e.g. the plugin's runtime id. Required.
   */
  readonly keyId: string;
  /**
   * The HMAC-SHA256 key shared with the verifier: a string (its UTF-8 bytes)
   * or bytes, at least 16 bytes; `generateToken()` makes a good one. Required.
   */
  readonly secret: SigningSecret;
  /** The clock, in Unix milliseconds. Default: `Date.now`. */
  readonly now?: () => number;
  /**
   * Makes the per-call nonce. Default: 16 CSPRNG bytes, base64url
   * (`generateToken(16)`). Tests inject a fixed one.
   */
  readonly randomNonce?: () => string;
}

/**
 * Creates a client interceptor that signs every call with HMAC-SHA256, for
 * `createRequestVerificationInterceptor` on the other side. It sets
 * `x-cpg-signature-key`, `x-cpg-signature-timestamp` (Unix ms),
 * `x-cpg-signature-nonce` and `x-cpg-signature` (base64url), replacing any
 * already set. The signature covers the method (`POST`), the procedure path
 * (`/<package>.<Service>/<Method>`), the key id, timestamp and nonce, and
 * for unary calls the SHA-256 digest of the binary request message.
 *
 * Streaming calls are signed without their messages, which are not known
 * when the call starts: the body digest is `none` and the interceptor adds
 * `x-cpg-signature-body: none`. Stream contents are protected by TLS only.
 *
 * Place it last among message-changing interceptors: anything that changes
 * the request after it breaks the signature. Invalid options throw
 * `AuthError` `invalid_options`.
 *
 * @example
 * ```ts
 * const transport = createConnectTransport({
 *   baseUrl: hostUrl,
 *   httpVersion: "2",
 *   interceptors: [createRequestSigningInterceptor({ keyId: runtimeId, secret: signingSecret })],
 * });
 * ```
 */
export function createRequestSigningInterceptor(options: RequestSigningOptions): Interceptor {
  const { keyId, secret, now, randomNonce } = resolveOptions(options);
  return (next) => async (req) => {
    const fields = { keyId, timestamp: String(Math.trunc(now())), nonce: randomNonce() };
    const signature = computeSignature(secret, canonicalRequest(req, fields));
    req.header.set(signatureHeaders.key, fields.keyId);
    req.header.set(signatureHeaders.timestamp, fields.timestamp);
    req.header.set(signatureHeaders.nonce, fields.nonce);
    req.header.set(signatureHeaders.signature, signature);
    if (req.stream) {
      req.header.set(signatureHeaders.body, BODY_NOT_SIGNED);
    } else {
      req.header.delete(signatureHeaders.body);
    }
    return await next(req);
  };
}

function resolveOptions(options: RequestSigningOptions): {
  keyId: string;
  secret: SigningSecret;
  now: () => number;
  randomNonce: () => string;
} {
  const { keyId, secret, now = Date.now, randomNonce = () => generateToken(16) } = options ?? {};
  if (typeof keyId !== "string" || !KEY_ID.test(keyId)) {
    throw invalid("keyId must be 1 to 256 visible ASCII characters without spaces");
  }
  if (secretLength(secret) < MIN_SECRET_BYTES) {
    throw invalid(
      `secret must be a string or Uint8Array of at least ${MIN_SECRET_BYTES} bytes, e.g. generateToken()`,
    );
  }
  if (typeof now !== "function") throw invalid("now must be a function returning Unix ms");
  if (typeof randomNonce !== "function") {
    throw invalid("randomNonce must be a function returning a string");
  }
  return {
    keyId,
    // A copy: the caller reusing its buffer must not change our key.
    secret: typeof secret === "string" ? secret : Uint8Array.from(secret),
    now,
    randomNonce,
  };
}

function invalid(message: string): AuthError {
  return new AuthError("invalid_options", `createRequestSigningInterceptor: ${message}`);
}
