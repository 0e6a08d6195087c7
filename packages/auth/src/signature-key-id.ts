import { type ContextValues, createContextKey } from "@connectrpc/connect";

/**
 * Context key under which `createRequestVerificationInterceptor` stores the
 * id of the key that signed a call, once the signature is verified. Its
 * default is `undefined`: not signed (or not verified).
 */
export const signatureKeyIdKey = createContextKey<string | undefined>(undefined, {
  description: "cpg request signing key id",
});

/**
 * Returns the id of the key whose signature on this call was verified, or
 * `undefined` when the call was not signed (allowed with `required: false`).
 * Works with `ctx.values` in handlers and `req.contextValues` in
 * interceptors placed after the verification interceptor.
 *
 * @example
 * ```ts
 * const signedBy = getSignatureKeyId(ctx.values); // e.g. "billing-3f2a"
 * ```
 */
export function getSignatureKeyId(values: ContextValues): string | undefined {
  return values.get(signatureKeyIdKey);
}
