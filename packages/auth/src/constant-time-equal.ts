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
  // On a length mismatch, walk `presented` against itself instead: the same
  // number of reads and XORs, so the answer (false, from `diff`) neither exits
  // early nor reveals how long the secret is. The string is chosen once, so
  // the loop has no branch and no per-character index arithmetic (wrapping an
  // index around `expected` with `%` cost a division per character).
  const other = length === expected.length ? expected : presented;
  let diff = length ^ expected.length;
  for (let i = 0; i < length; i++) {
    diff |= presented.charCodeAt(i) ^ other.charCodeAt(i);
  }
  return diff === 0;
}
