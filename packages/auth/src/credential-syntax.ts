const TOKEN68 = /^[A-Za-z0-9._~+/-]+=*$/;
const VISIBLE_ASCII = /^[\x21-\x7e]+$/;

/**
 * Whether `value` is an RFC 7235 token68, the syntax of a bearer token
 * (cpg's base64url tokens, with or without Go's `=` padding, are).
 * @private
 */
export function isBearerTokenSyntax(value: string): boolean {
  return TOKEN68.test(value);
}

/**
 * Whether `value` can be an API key: non-empty visible ASCII, no spaces.
 * @private
 */
export function isApiKeySyntax(value: string): boolean {
  return VISIBLE_ASCII.test(value);
}
