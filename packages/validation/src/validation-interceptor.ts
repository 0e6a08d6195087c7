import type { Interceptor } from "@connectrpc/connect";
import { validateMessage } from "./validate-message.js";
import { isValidationError, validationErrorToConnectError } from "./validation-error.js";
import {
  type ResolvedValidationOptions,
  resolveValidationOptions,
  type ValidationOptions,
} from "./validation-options.js";

/**
 * Creates a Connect interceptor that validates every cpg protocol request
 * message with {@link validateMessage} before it reaches the next layer, and
 * fails the call with a `ConnectError` of code `invalid_argument` whose
 * message names the field and the limit (e.g.
 * `[invalid_argument] metadata key too long: 300 bytes (max: 256)`).
 *
 * Works for unary and streaming calls: the messages of a stream are checked
 * one by one as they arrive, so a bad message ends the stream without
 * buffering it. Responses and unknown messages pass untouched. On a server,
 * add it to the host's interceptors; on a client, it pre-checks requests
 * before they are sent.
 *
 * Options are resolved once, here. Defaults: {@link DEFAULT_VALIDATION_LIMITS},
 * any base URL host.
 *
 * @throws TypeError saying what to change when the options are invalid.
 *
 * @example
 * ```ts
 * const validation = createValidationInterceptor({ allowedHosts: ["10.0.0.0/8"] });
 * connectNodeAdapter({ routes, interceptors: [validation] });
 * ```
 */
export function createValidationInterceptor(options?: ValidationOptions): Interceptor {
  const resolved = resolveValidationOptions(options);
  return (next) => async (req) => {
    if (!req.stream) {
      check(req.message, resolved);
      return await next(req);
    }
    return await next({ ...req, message: checkEach(req.message, resolved) });
  };
}

function check(message: { readonly $typeName: string }, options: ResolvedValidationOptions): void {
  try {
    validateMessage(message, options);
  } catch (e) {
    throw isValidationError(e) ? validationErrorToConnectError(e) : e;
  }
}

async function* checkEach<T extends { readonly $typeName: string }>(
  messages: AsyncIterable<T>,
  options: ResolvedValidationOptions,
): AsyncIterable<T> {
  for await (const message of messages) {
    check(message, options);
    yield message;
  }
}
