import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { RUNTIME_ID_HEADER } from "@cpg/protocol";
import { getClientAddress } from "@cpg/ratelimit";
import type { AuditFunction } from "./audit-sink.js";

// The server-side reason behind "invalid credentials", e.g. "unknown API key".
const reasonOf = (cause: unknown) =>
  cause instanceof ConnectError
    ? cause.rawMessage
    : cause instanceof Error
      ? cause.message
      : undefined;

/**
 * A server interceptor that audits every host call refused with
 * `unauthenticated` as `auth.failed`: the procedure, the runtime id the
 * caller claimed, its client address when known, and why (the server-side
 * reason too). Never the credential itself. Place it before the
 * authentication interceptor so it sees its refusals. Unary and streaming.
 * @private
 */
export function auditAuthFailures(audit: AuditFunction): Interceptor {
  return (next) => async (req) => {
    try {
      return await next(req);
    } catch (error) {
      const refused = ConnectError.from(error);
      if (refused.code === Code.Unauthenticated) {
        audit("auth.failed", {
          procedure: `/${req.service.typeName}/${req.method.name}`,
          claimed_runtime_id: req.header.get(RUNTIME_ID_HEADER) ?? undefined,
          client_address: getClientAddress(req.contextValues),
          code: "unauthenticated",
          reason: refused.rawMessage,
          detail: reasonOf(refused.cause),
        });
      }
      throw error;
    }
  };
}
