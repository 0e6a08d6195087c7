import { checkIdentifier, checkString } from "./field-checks.js";
import { resolveValidationOptions, type ValidationOptions } from "./validation-options.js";

/**
 * Validates the `self_id` a plugin declares in the handshake: non-empty, at
 * most `limits.maxSelfIdBytes` UTF-8 bytes (default 128), starting with an
 * ASCII letter followed by ASCII letters, digits, `_`, `.`, `-`.
 *
 * {@link validateMessage} and the interceptor do not check `self_id`: the
 * wire contract has the host report cookie and protocol-version problems
 * first, so the handshake handler calls this itself, after those checks, and
 * only when `self_id` is non-empty (an empty one asks for no runtime identity).
 *
 * @throws ValidationError with field `self_id`, e.g.
 * `self ID "1abc" must start with a letter and contain only letters, digits, "_", ".", "-"`.
 */
export function validateSelfId(selfId: string, options?: ValidationOptions): void {
  const { limits } = resolveValidationOptions(options);
  const ref = { field: "self_id", label: "self ID" };
  checkString(selfId, ref);
  checkIdentifier(selfId, limits.maxSelfIdBytes, ref);
}
