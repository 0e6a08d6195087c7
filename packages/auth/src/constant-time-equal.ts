/**
 * Compares a presented secret with the expected one in constant time: the
 * running time does not depend on where (or whether) the strings differ, nor
 * on the content or length of `expected`. It depends only on the length of
 * `presented`, which the caller already knows. Use it for every token, key or
 * MAC comparison; `===` stops at the first differing character.
 *
 * Strings are compared by UTF-16 code unit; secrets are ASCII in practice.
 *
 * @param presented - the value received from the caller (untrusted).
 * @param expected - the secret it must equal.
 *
 * @example
 * ```ts
 * if (!constantTimeEqual(apiKeyFromHeader, configuredKey)) throw unauthenticated();
 * ```
 */
export function constantTimeEqual(presented: string, expected: string): boolean {
  const length = presented.length;
  const expectedLength = expected.length;
  // Walk the presented string once and wrap around `expected`, so a length
  // mismatch neither exits early nor reveals how long the secret is.
  const modulus = expectedLength === 0 ? 1 : expectedLength;
  let diff = length ^ expectedLength;
  for (let i = 0; i < length; i++) {
    // For an empty `expected`, charCodeAt returns NaN, which `^` turns into 0;
    // `diff` is already non-zero from the length mismatch.
    diff |= presented.charCodeAt(i) ^ expected.charCodeAt(i % modulus);
  }
  return diff === 0;
}
