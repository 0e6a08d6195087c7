import { randomInt } from "node:crypto";

/** The 62 characters of short codes. */
export const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/**
 * A random base62 code of `length` characters (62^7 ≈ 3.5e12 codes for the
 * default 7), drawn uniformly with a cryptographic generator.
 *
 * @example
 * ```ts
 * shortCode(); // e.g. "aZ3kQ9x"
 * ```
 */
export function shortCode(length = 7): string {
  if (!Number.isInteger(length) || length < 1 || length > 32) {
    throw new Error(`length must be an integer from 1 to 32, got ${length}`);
  }
  let code = "";
  for (let i = 0; i < length; i++) code += BASE62[randomInt(BASE62.length)];
  return code;
}
