// Tells a host that cannot be reached from an answer the host gave.
//
// connect-node turns Node.js errors into ConnectErrors and keeps the Node.js
// error as `cause` (connectErrorFromNodeReason in connect-node's
// node-error.ts): a refused connection or a failed name lookup becomes
// `unavailable`, a connection reset ("socket hang up") becomes `aborted`, a
// write to a connection the peer closed (EPIPE) and an HTTP/2 stream the
// peer refused become `internal`. The code alone therefore says little; the
// Node.js error code in the cause chain says whether the connection failed.
// An error the host answered (including one it relayed from a provider)
// arrives as an HTTP response and has no such cause.

/** Node.js error codes of a connection that failed or could not be made. */
const CONNECTION_ERROR_CODES: ReadonlySet<string> = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "EHOSTDOWN",
  "ENETUNREACH",
  "ENETDOWN",
  "ENOTFOUND",
  "EAI_AGAIN",
  // HTTP/2 session-level failures (a stream-level reset is an answer).
  "ERR_HTTP2_GOAWAY_SESSION",
  "ERR_HTTP2_SESSION_ERROR",
  "ERR_HTTP2_INVALID_SESSION",
  "ERR_HTTP2_STREAM_CANCEL",
  "ERR_HTTP2_PING_CANCEL",
  "ERR_HTTP2_SOCKET_UNBOUND",
  "ERR_HTTP2_ERROR",
]);

/**
 * Whether a call failed because the connection to the server failed
 * (refused, reset, broken pipe, unreachable, unresolvable, HTTP/2 session
 * gone, HTTP/2 stream refused before processing) rather than because the
 * server answered with an error. Walks the `cause` chain that connect-node
 * builds.
 * @private
 */
export function isConnectionFailure(error: unknown): boolean {
  const seen = new Set<unknown>();
  let reason = error;
  while (reason instanceof Error && !seen.has(reason)) {
    seen.add(reason);
    const code = (reason as { code?: unknown }).code;
    if (typeof code === "string") {
      if (CONNECTION_ERROR_CODES.has(code)) return true;
      // REFUSED_STREAM: the server did not process the stream (e.g. it is going away).
      if (code === "ERR_HTTP2_STREAM_ERROR" && reason.message.includes("NGHTTP2_REFUSED_STREAM")) {
        return true;
      }
    }
    reason = reason.cause;
  }
  return false;
}
