import { checkMaxBytes, checkNoNul, checkNotEmpty, checkString, quote } from "./field-checks.js";
import { ValidationError } from "./validation-error.js";
import { resolveValidationOptions, type ValidationOptions } from "./validation-options.js";

const SCHEME = /^https?:\/\//i;
// Space, ASCII controls, DEL and backslash (which URL parsers read as "/").
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const FORBIDDEN = /[\u0000-\u0020\u007f\\]/;

/**
 * Validates the `base_url` a self-registering plugin puts in its
 * registration metadata (e.g. `http://10.0.0.7:8082`): an absolute `http` or
 * `https` URL, at most `limits.maxBaseUrlBytes` UTF-8 bytes (default 2048),
 * without credentials (`user:pass@`), query or fragment, without spaces,
 * control characters or backslashes. A path is allowed
 * (`https://gw.internal/plugins/kv`).
 *
 * When `options.allowedHosts` is set (default: unset, any host), the URL's
 * host must match one of its entries: see {@link isHostAllowed}.
 *
 * Messages never repeat the URL, which may carry credentials; only the host
 * of a refused host is named.
 *
 * @throws ValidationError with field `base_url`, e.g.
 * `base URL must not contain credentials` or
 * `base URL host "evil.example" is not in the allowed hosts` (code `not_allowed`).
 *
 * @example
 * ```ts
 * validateBaseUrl("http://10.0.0.7:8082", { allowedHosts: ["10.0.0.0/8"] }); // ok
 * ```
 */
export function validateBaseUrl(baseUrl: string, options?: ValidationOptions): void {
  const { limits, allows } = resolveValidationOptions(options);
  const field = "base_url";
  const ref = { field, label: "base URL" };
  checkString(baseUrl, ref);
  checkNotEmpty(baseUrl, ref);
  checkMaxBytes(baseUrl, limits.maxBaseUrlBytes, ref);
  checkNoNul(baseUrl, ref);
  if (FORBIDDEN.test(baseUrl)) {
    throw new ValidationError('base URL must not contain spaces, control characters or "\\"', {
      field,
      code: "forbidden_character",
    });
  }
  let url: URL | undefined;
  if (SCHEME.test(baseUrl)) {
    try {
      url = new URL(baseUrl);
    } catch {
      url = undefined;
    }
  }
  if (url === undefined || url.hostname === "") {
    throw new ValidationError("base URL must be an absolute http or https URL", {
      field,
      code: "invalid_format",
    });
  }
  const authority = baseUrl.slice(baseUrl.indexOf("//") + 2).split(/[/?#]/, 1)[0] ?? "";
  if (authority.includes("@") || url.username !== "" || url.password !== "") {
    throw new ValidationError("base URL must not contain credentials", {
      field,
      code: "invalid_format",
    });
  }
  if (baseUrl.includes("?") || baseUrl.includes("#")) {
    throw new ValidationError("base URL must not contain a query or fragment", {
      field,
      code: "invalid_format",
    });
  }
  if (allows !== undefined && !allows(url.hostname)) {
    throw new ValidationError(`base URL host ${quote(url.hostname)} is not in the allowed hosts`, {
      field,
      code: "not_allowed",
    });
  }
}
