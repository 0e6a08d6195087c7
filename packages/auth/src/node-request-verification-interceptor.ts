import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { AuthError } from "./auth-error.js";
import type { AuthRequest } from "./authenticator.js";
import { constantTimeEqual } from "./constant-time-equal.js";
import {
  canonicalRequest,
  computeSignature,
  type SigningSecret,
  secretLength,
  signatureHeaders,
} from "./node-request-signature.js";
import { createReplayCache } from "./replay-cache.js";
import { signatureKeyIdKey } from "./signature-key-id.js";

/**
 * Looks up the secret of a signing key id: `undefined` when the id is
 * unknown. May be async (a secret store); an error it throws fails the call
 * with `internal` (a `ConnectError` is passed on as is).
 */
export type SigningKeyLookup = (
  keyId: string,
) => SigningSecret | undefined | Promise<SigningSecret | undefined>;

/** Options of {@link createRequestVerificationInterceptor}. */
export interface RequestVerificationOptions {
  /** The secret of each key id, e.g. from the host's runtime registry. Required. */
  readonly keys: SigningKeyLookup;
  /**
   * How far a request's timestamp may be from the server's clock, either way,
   * in milliseconds. Nonces are remembered this long past their timestamp.
   * Default: `300_000` (5 minutes).
   */
  readonly windowMs?: number;
  /**
   * How many nonces the replay cache holds. When it is full of unexpired
   * nonces the oldest is evicted and requests made at or before its timestamp
   * are refused from then on (their replay could no longer be detected).
   * Default: `100_000`.
   */
  readonly maxNonces?: number;
  /**
   * Whether a call without a signature is refused with `unauthenticated`, or
   * a function deciding per call. A call that carries a signature is
   * verified either way. Default: `true`.
   */
  readonly required?: boolean | ((req: AuthRequest) => boolean);
  /** The clock, in Unix milliseconds. Default: `Date.now`. */
  readonly now?: () => number;
}

const KEY_ID = /^[\x21-\x7e]{1,256}$/;
const TIMESTAMP = /^\d{1,15}$/;
const NONCE = /^[A-Za-z0-9_-]{16,128}$/;
const SIGNATURE = /^[A-Za-z0-9_-]{43}$/;

/**
 * Creates a server interceptor that verifies the signatures made by
 * `createRequestSigningInterceptor`, on unary and streaming calls, before
 * the handler runs. For a unary call it recomputes the body digest from the
 * received message, so a message changed in transit is refused. It checks,
 * in this order, each failure being `unauthenticated`:
 *
 * - all four signature headers present ("missing request signature" when
 *   none is and `required` says so; the call proceeds unsigned otherwise);
 * - their syntax ("malformed request signature: ...");
 * - the timestamp within `windowMs` of the server clock ("request signature
 *   expired: timestamp 400 s away (max: 300 s)");
 * - the key id known to `keys` ("unknown signing key");
 * - the signature, compared in constant time ("request signature does not
 *   match");
 * - the nonce not used before by that key within the window ("replayed
 *   request refused: nonce already used").
 *
 * On success the key id is available to the handler with
 * `getSignatureKeyId(ctx.values)`. Signing proves who sent the call and that
 * its unary message is intact; it does not replace authentication of the
 * caller's identity nor TLS, which alone protects streaming message contents.
 *
 * @example
 * ```ts
 * connectNodeAdapter({
 *   routes,
 *   interceptors: [
 *     createRequestVerificationInterceptor({ keys: (keyId) => runtimes.get(keyId)?.signingSecret }),
 *   ],
 * });
 * ```
 */
export function createRequestVerificationInterceptor(
  options: RequestVerificationOptions,
): Interceptor {
  const { keys, windowMs, maxNonces, required, now } = resolveOptions(options);
  const replays = createReplayCache(maxNonces);
  return (next) => async (req) => {
    const keyId = req.header.get(signatureHeaders.key);
    const timestamp = req.header.get(signatureHeaders.timestamp);
    const nonce = req.header.get(signatureHeaders.nonce);
    const signature = req.header.get(signatureHeaders.signature);
    if (keyId === null && timestamp === null && nonce === null && signature === null) {
      if (required(req)) throw unauthenticated("missing request signature");
      return await next(req);
    }
    checkSyntax(signatureHeaders.key, keyId, KEY_ID);
    checkSyntax(signatureHeaders.timestamp, timestamp, TIMESTAMP);
    checkSyntax(signatureHeaders.nonce, nonce, NONCE);
    checkSyntax(signatureHeaders.signature, signature, SIGNATURE);

    const at = now();
    const time = Number(timestamp);
    const distance = Math.abs(at - time);
    if (!(distance <= windowMs)) {
      throw unauthenticated(
        `request signature expired: timestamp ${seconds(distance)} s away (max: ${seconds(windowMs)} s)`,
      );
    }

    const secret = await lookUp(keys, keyId);
    const expected = computeSignature(secret, canonicalRequest(req, { keyId, timestamp, nonce }));
    if (!constantTimeEqual(signature, expected)) {
      throw unauthenticated("request signature does not match");
    }

    // Only verified requests reach the cache, so unsigned traffic cannot fill it.
    switch (replays.claim(`${keyId}\n${nonce}`, time, time + windowMs, at)) {
      case "replayed":
        throw unauthenticated("replayed request refused: nonce already used");
      case "evicted":
        throw unauthenticated(
          "replayed request refused: timestamp older than the replay cache remembers (raise maxNonces)",
        );
    }
    req.contextValues.set(signatureKeyIdKey, keyId);
    return await next(req);
  };
}

function checkSyntax(
  header: string,
  value: string | null,
  syntax: RegExp,
): asserts value is string {
  if (value === null) throw unauthenticated(`malformed request signature: missing ${header}`);
  if (!syntax.test(value)) throw unauthenticated(`malformed request signature: invalid ${header}`);
}

async function lookUp(keys: SigningKeyLookup, keyId: string): Promise<SigningSecret> {
  let secret: SigningSecret | undefined;
  try {
    secret = await keys(keyId);
  } catch (error) {
    throw error instanceof ConnectError ? error : cannotVerify(error);
  }
  if (secret === undefined || secret === null) throw unauthenticated("unknown signing key");
  if (secretLength(secret) <= 0) {
    throw cannotVerify(
      new AuthError(
        "invalid_options",
        "createRequestVerificationInterceptor: keys(keyId) must return a non-empty string or Uint8Array, or undefined",
      ),
    );
  }
  return secret;
}

/** Milliseconds as seconds, rounded up to a tenth: 300_000 -> "300", 300_040 -> "300.1". */
function seconds(ms: number): string {
  return String(Math.ceil(ms / 100) / 10);
}

function unauthenticated(message: string): ConnectError {
  return new ConnectError(message, Code.Unauthenticated);
}

function cannotVerify(cause: unknown): ConnectError {
  return new ConnectError(
    "request signature could not be verified",
    Code.Internal,
    undefined,
    undefined,
    cause,
  );
}

function resolveOptions(options: RequestVerificationOptions): {
  keys: SigningKeyLookup;
  windowMs: number;
  maxNonces: number;
  required: (req: AuthRequest) => boolean;
  now: () => number;
} {
  const {
    keys,
    windowMs = 5 * 60 * 1000,
    maxNonces = 100_000,
    required = true,
    now = Date.now,
  } = options ?? {};
  if (typeof keys !== "function") {
    throw invalid("keys must be a function (keyId) => secret | undefined");
  }
  if (typeof windowMs !== "number" || !Number.isFinite(windowMs) || windowMs <= 0) {
    throw invalid(`windowMs must be a positive number of milliseconds, got ${windowMs}`);
  }
  if (!Number.isInteger(maxNonces) || maxNonces < 1) {
    throw invalid(`maxNonces must be a positive integer, got ${maxNonces}`);
  }
  if (typeof required !== "boolean" && typeof required !== "function") {
    throw invalid("required must be a boolean or a function (req) => boolean");
  }
  if (typeof now !== "function") throw invalid("now must be a function returning Unix ms");
  return {
    keys,
    windowMs,
    maxNonces,
    required: typeof required === "function" ? required : () => required,
    now,
  };
}

function invalid(message: string): AuthError {
  return new AuthError("invalid_options", `createRequestVerificationInterceptor: ${message}`);
}
