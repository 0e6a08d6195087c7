import { ConnectError, type Interceptor } from "@connectrpc/connect";

/**
 * Headers that belong to one HTTP connection and must never be sent on
 * another (HTTP/2 forbids them outright).
 * @private
 */
export const CONNECTION_HEADERS: readonly string[] = [
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "upgrade",
  "host",
];

/**
 * Server interceptor that removes connection-specific headers from the
 * metadata of errors a handler throws. A handler that rethrows the error of a
 * call it made (over HTTP/1.1) would otherwise send that response's
 * `keep-alive` header to its own caller, which HTTP/2 refuses: the call would
 * hang until the caller's deadline.
 * @private
 */
export const sanitizeErrorMetadata: Interceptor = (next) => async (req) => {
  try {
    return await next(req);
  } catch (error) {
    if (error instanceof ConnectError) {
      for (const name of CONNECTION_HEADERS) error.metadata.delete(name);
    }
    throw error;
  }
};
