import type { AuthError } from "./auth-error.js";
import type { AuthRequest } from "./authenticator.js";

/**
 * A client credential: a fixed string, or a function called before every
 * call (sync or async), which lets a plugin refresh its token.
 */
export type CredentialSource = string | ((req: AuthRequest) => string | Promise<string>);

/**
 * Checks a fixed credential at construction and returns a per-call resolver
 * that checks getter results.
 * @private
 */
export function credentialResolver(
  source: CredentialSource,
  isValid: (value: string) => boolean,
  error: (message: string) => AuthError,
): (req: AuthRequest) => Promise<string> {
  if (typeof source === "string") {
    if (!isValid(source)) throw error("the credential is empty or has invalid characters");
    return async () => source;
  }
  if (typeof source !== "function") {
    throw error("expected a string or a function returning one");
  }
  return async (req) => {
    const value = await source(req);
    if (typeof value !== "string" || !isValid(value)) {
      throw error("the credential getter returned an empty or invalid value");
    }
    return value;
  };
}
