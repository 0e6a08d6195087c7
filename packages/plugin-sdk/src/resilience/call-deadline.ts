// The timeout a Connect client set on a call, as its transport wrote it into
// the request headers before running the interceptors: `connect-timeout-ms`
// (Connect protocol, milliseconds) or `grpc-timeout` (gRPC and gRPC-web, an
// integer and a unit). The call's `signal` aborts when it elapses; these
// helpers let an interceptor plan around it before it does.

const CONNECT_TIMEOUT = "connect-timeout-ms";
const GRPC_TIMEOUT = "grpc-timeout";

const grpcUnitMs: Record<string, number> = {
  H: 3_600_000,
  M: 60_000,
  S: 1_000,
  m: 1,
  u: 0.001,
  n: 0.000_001,
};

/**
 * Returns the call timeout in milliseconds from the request headers, or
 * `undefined` when the call has none (or the header cannot be parsed).
 *
 * @private
 */
export function callTimeoutMs(header: Headers): number | undefined {
  const connect = header.get(CONNECT_TIMEOUT);
  if (connect !== null) {
    return /^\d{1,10}$/.test(connect) ? Number(connect) : undefined;
  }
  const grpc = header.get(GRPC_TIMEOUT);
  if (grpc !== null) {
    const match = /^(\d{1,8})([HMSmun])$/.exec(grpc);
    if (match) return Number(match[1]) * grpcUnitMs[match[2]!]!;
  }
  return undefined;
}

/**
 * Rewrites the timeout header that is present to `ms` (rounded up to whole
 * milliseconds), so that a re-issued call tells the server the time left.
 *
 * @private
 */
export function setCallTimeoutMs(header: Headers, ms: number): void {
  const value = Math.max(1, Math.ceil(ms));
  if (header.has(CONNECT_TIMEOUT)) header.set(CONNECT_TIMEOUT, String(value));
  else if (header.has(GRPC_TIMEOUT)) header.set(GRPC_TIMEOUT, `${value}m`);
}
