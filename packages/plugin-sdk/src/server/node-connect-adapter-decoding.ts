import {
  Code,
  ConnectError,
  type ContextKey,
  type ContextValues,
  createContextValues,
  type Interceptor,
} from "@connectrpc/connect";

// connect-es answers a request message that `fromBinary` cannot decode with
// `internal` "parse binary: <detail>" (protocol/serialization.js), the gRPC
// convention for a *response* that does not decode.
const PARSE_BINARY = "parse binary: ";

/**
 * The `invalid_argument` error to answer instead of `error` when `error` is
 * connect-es's `internal` "parse binary: ..." failure to decode a message;
 * `undefined` for any other error. Callers only pass errors that come from
 * decoding the *request*: the same error raised by a handler (a response it
 * received did not decode) must stay `internal`.
 */
export function invalidRequestMessage(error: unknown): ConnectError | undefined {
  if (!(error instanceof ConnectError) || error.code !== Code.Internal) return undefined;
  if (!error.rawMessage.startsWith(PARSE_BINARY)) return undefined;
  return new ConnectError(
    `invalid request message: ${error.rawMessage.slice(PARSE_BINARY.length)}`,
    Code.InvalidArgument,
    undefined,
    undefined,
    error,
  );
}

/**
 * The context values of one call served by the adapter: the values from the
 * adapter's `contextValues` option (or new ones), and whether the call reached
 * the interceptors. connect-es decodes a unary request message before the
 * interceptors run, so a unary call that failed without reaching them failed
 * on its request, never in a handler.
 */
export class RequestContextValues implements ContextValues {
  /** Set by {@link strictRequestDecoding} when a unary call reaches the interceptors. */
  reachedInterceptors = false;
  readonly #values: ContextValues;

  constructor(values: ContextValues = createContextValues()) {
    this.#values = values;
  }

  get<T>(key: ContextKey<T>): T {
    return this.#values.get(key);
  }

  set<T>(key: ContextKey<T>, value: T): this {
    this.#values.set(key, value);
    return this;
  }

  delete(key: ContextKey<unknown>): this {
    this.#values.delete(key);
    return this;
  }
}

/**
 * The outermost interceptor of every call the adapter serves. Unary calls:
 * records that the call reached the interceptors (its request decoded).
 * Streaming calls: request messages are decoded as the handler reads them, so
 * a message that does not decode is turned into `invalid_argument` right where
 * it is read, whether it is the first message or one in the middle of a
 * client or bidi stream.
 */
export const strictRequestDecoding: Interceptor = (next) => (req) => {
  if (!req.stream) {
    if (req.contextValues instanceof RequestContextValues) {
      req.contextValues.reachedInterceptors = true;
    }
    return next(req);
  }
  return next({ ...req, message: strictlyDecoded(req.message) });
};

// The request messages of a stream, with decoding failures raised while
// reading them as `invalid_argument`. Only errors from `next()` are touched:
// they come from reading and decoding the request body.
function strictlyDecoded<T>(messages: AsyncIterable<T>): AsyncIterable<T> {
  return {
    [Symbol.asyncIterator]() {
      const it = messages[Symbol.asyncIterator]();
      const fail = (error: unknown): never => {
        throw invalidRequestMessage(error) ?? error;
      };
      const iterator: AsyncIterator<T> = {
        next: (...args) => it.next(...args).catch(fail),
      };
      if (it.return) iterator.return = (value) => it.return!(value);
      if (it.throw) iterator.throw = (error) => it.throw!(error);
      return iterator;
    },
  };
}
