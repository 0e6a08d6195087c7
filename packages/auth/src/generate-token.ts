import { AuthError } from "./auth-error.js";

/**
 * A source of cryptographically secure random bytes: fills `bytes` entirely
 * or throws. The default, {@link systemRandomSource}, is the platform CSPRNG;
 * tests inject a failing one.
 */
export type RandomSource = (bytes: Uint8Array) => void;

/**
 * The platform CSPRNG: `crypto.getRandomValues` (Node's WebCrypto, backed by
 * OpenSSL, or the browser's).
 */
export const systemRandomSource: RandomSource = (bytes) => {
  globalThis.crypto.getRandomValues(bytes);
};

/** Smallest accepted token size: 16 bytes = 128 bits of entropy. */
const MIN_TOKEN_BYTES = 16;
const MAX_BYTES = 1024;

/**
 * Generates a secret token: `byteLength` bytes from the CSPRNG, base64url
 * without padding (32 bytes -> 43 characters). Peers treat tokens as opaque,
 * so this is interchangeable with Go's padded 44-character form.
 *
 * Never returns a weak token: if the random source throws, or returns without
 * filling the buffer (all zero bytes), it throws an {@link AuthError} with
 * code `"random_source_failed"` (`internal` on the wire through
 * `authErrorToConnectError`).
 *
 * @param byteLength - entropy in bytes, 16..1024. Default: 32.
 * @param randomSource - where the bytes come from. Default: {@link systemRandomSource}.
 *
 * @example
 * ```ts
 * const token = generateToken(); // "q3J9...": 43 base64url characters
 * ```
 */
export function generateToken(
  byteLength = 32,
  randomSource: RandomSource = systemRandomSource,
): string {
  checkByteLength(byteLength, MIN_TOKEN_BYTES, "generateToken");
  const bytes = randomBytes(byteLength, randomSource);
  if (bytes.every((b) => b === 0)) {
    throw new AuthError(
      "random_source_failed",
      "random source returned no randomness (all zero bytes); refusing to issue a weak token",
    );
  }
  return base64url(bytes);
}

/**
 * Generates a random, non-secret identifier: `byteLength` bytes from the
 * CSPRNG as lower-case hex (8 bytes -> 16 characters). Used for runtime id
 * suffixes, grant ids and registration ids. Random-source failures throw an
 * {@link AuthError} with code `"random_source_failed"`.
 *
 * @param byteLength - 1..1024. Default: 8.
 * @param randomSource - Default: {@link systemRandomSource}.
 */
export function generateId(
  byteLength = 8,
  randomSource: RandomSource = systemRandomSource,
): string {
  checkByteLength(byteLength, 1, "generateId");
  let hex = "";
  for (const b of randomBytes(byteLength, randomSource)) {
    hex += b.toString(16).padStart(2, "0");
  }
  return hex;
}

function checkByteLength(byteLength: number, min: number, fn: string): void {
  if (!Number.isInteger(byteLength) || byteLength < min || byteLength > MAX_BYTES) {
    throw new AuthError(
      "invalid_options",
      `${fn}: byteLength must be an integer from ${min} to ${MAX_BYTES}, got ${byteLength}`,
    );
  }
}

function randomBytes(byteLength: number, randomSource: RandomSource): Uint8Array {
  const bytes = new Uint8Array(byteLength);
  try {
    randomSource(bytes);
  } catch (cause) {
    throw new AuthError("random_source_failed", "random source failed", {
      cause,
    });
  }
  return bytes;
}

const BASE64URL_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const BASE64URL_CODES = Uint8Array.from(BASE64URL_ALPHABET, (c) => c.charCodeAt(0));

/**
 * base64url without padding, built in one `String.fromCharCode` call so the
 * result is one flat string. `btoa(...).replace(...)` returns a slice of the
 * padded string, and a map keyed by such tokens looks them up about half as
 * fast (every comparison goes through the slice to its parent).
 */
function base64url(bytes: Uint8Array): string {
  const codes = new Uint8Array(Math.ceil((bytes.length * 4) / 3));
  let out = 0;
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    codes[out++] = BASE64URL_CODES[n >>> 18]!;
    codes[out++] = BASE64URL_CODES[(n >>> 12) & 63]!;
    codes[out++] = BASE64URL_CODES[(n >>> 6) & 63]!;
    codes[out++] = BASE64URL_CODES[n & 63]!;
  }
  const rest = bytes.length - i;
  if (rest > 0) {
    const n = (bytes[i]! << 16) | (rest === 2 ? bytes[i + 1]! << 8 : 0);
    codes[out++] = BASE64URL_CODES[n >>> 18]!;
    codes[out++] = BASE64URL_CODES[(n >>> 12) & 63]!;
    if (rest === 2) codes[out++] = BASE64URL_CODES[(n >>> 6) & 63]!;
  }
  return String.fromCharCode.apply(null, codes as unknown as number[]);
}
