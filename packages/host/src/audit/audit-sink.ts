import { redact } from "@cpg/plugin-sdk";

/**
 * One security-relevant event: handshakes, registrations, grants, denials,
 * revocations, platform operations. Never carries secrets: credential-like
 * fields are redacted before an event reaches a sink.
 */
export interface AuditEvent {
  /** ISO 8601 time. */
  readonly time: string;
  /** What happened, e.g. `platform.remove`. */
  readonly event: string;
  /** Facts of the event. */
  readonly [field: string]: unknown;
}

/**
 * Where audit events go.
 */
export type AuditSink = (event: AuditEvent) => void;

/**
 * An {@link AuditSink} writing one JSON object per line to `write` (for
 * example a file stream's `write`).
 */
export function createJsonLinesAuditSink(write: (line: string) => void): AuditSink {
  return (event) => write(`${JSON.stringify(event)}\n`);
}

/**
 * Records one audit event: what happened and its facts (never secrets; the
 * auditor redacts credential-like fields anyway).
 * @private
 */
export type AuditFunction = (event: string, fields?: Record<string, unknown>) => void;

/**
 * Builds an audit function over a sink: adds the time and redacts
 * credential-like fields.
 * @private
 */
export function createAuditor(sink: AuditSink, now: () => number): AuditFunction {
  return (event: string, fields: Record<string, unknown> = {}) => {
    sink({ ...redact(fields), time: new Date(now()).toISOString(), event });
  };
}
