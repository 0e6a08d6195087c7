const grpcUnits: Record<string, number> = {
  H: 3_600_000,
  M: 60_000,
  S: 1000,
  m: 1,
  u: 0.001,
  n: 0.000001,
};

/**
 * The deadline a caller set, in milliseconds from now: Connect's
 * `connect-timeout-ms` or gRPC's `grpc-timeout` (e.g. `200m`, `5S`).
 * `undefined` when the caller set none; `NaN` when the header is malformed.
 */
export function requestTimeoutMs(
  headers: Record<string, string | string[] | undefined>,
): number | undefined {
  const connect = headers["connect-timeout-ms"];
  if (typeof connect === "string") {
    return /^\d{1,10}$/.test(connect) ? Number(connect) : Number.NaN;
  }
  const grpc = headers["grpc-timeout"];
  if (typeof grpc === "string") {
    const m = /^(\d{1,8})([HMSmun])$/.exec(grpc);
    return m ? Number(m[1]) * grpcUnits[m[2]!]! : Number.NaN;
  }
  return undefined;
}

/**
 * Formats a timeout for the header of the protocol the caller used.
 */
export function timeoutHeader(protocol: "connect" | "grpc", ms: number): [string, string] {
  const whole = Math.max(1, Math.ceil(ms));
  return protocol === "connect"
    ? ["connect-timeout-ms", String(whole)]
    : ["grpc-timeout", `${whole}m`];
}
