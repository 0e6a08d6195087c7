/**
 * W3C trace context request header (`00-<trace id>-<span id>-<flags>`).
 */
export const TRACEPARENT_HEADER = "traceparent";

/**
 * A span started by a {@link HostTracer}.
 */
export interface HostSpan {
  /** Adds or replaces an attribute. */
  setAttribute(key: string, value: string | number): void;
  /** Ends the span; `code` is the Connect code name (`"ok"`, `"unavailable"`, ...). */
  end(code?: string): void;
  /**
   * The span's own W3C `traceparent`. When given, the router sends it to the
   * provider instead of the caller's, so the provider's span is a child of
   * this one.
   */
  traceparent?(): string;
}

/**
 * A tracing hook, shaped so that a thin adapter over an OpenTelemetry
 * `Tracer` fits (the host does not depend on `@opentelemetry/*`).
 *
 * The host calls `startSpan`:
 * - in the router, for every routed call: name `route <service type>`,
 *   attributes `service_type` and `procedure`, then `caller_self_id` and
 *   `provider_self_id` once known; `end(code)` when the call finishes or is
 *   refused;
 * - in the metrics interceptor, for every call of the host's own API: name
 *   the procedure (`/connectplugin.v1.ServiceRegistry/RegisterService`),
 *   attribute `procedure`.
 *
 * `parent` is the caller's `traceparent` header, when it sent one.
 *
 * @example
 * ```ts
 * import { context, propagation, trace } from "@opentelemetry/api";
 *
 * const otel = trace.getTracer("cpg-host");
 * const tracer: HostTracer = {
 *   startSpan(name, attributes, parent) {
 *     const ctx = parent
 *       ? propagation.extract(context.active(), { traceparent: parent })
 *       : context.active();
 *     const span = otel.startSpan(name, { attributes }, ctx);
 *     return {
 *       setAttribute: (k, v) => span.setAttribute(k, v),
 *       end: (code) => {
 *         span.setAttribute("rpc.connect.code", code ?? "ok");
 *         span.end();
 *       },
 *       traceparent() {
 *         const carrier: Record<string, string> = {};
 *         propagation.inject(trace.setSpan(ctx, span), carrier);
 *         return carrier.traceparent ?? "";
 *       },
 *     };
 *   },
 * };
 * const host = createHost({ tracer });
 * ```
 */
export interface HostTracer {
  /** Starts a span; see the interface documentation. */
  startSpan(name: string, attributes: Record<string, string | number>, parent?: string): HostSpan;
}

const TRACEPARENT = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;

/**
 * The `traceparent` of a request header value when it is well formed, else
 * `undefined` (a malformed one is never handed to a tracer).
 * @private
 */
export function parentTraceparent(value: string | string[] | null | undefined): string | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (v === undefined || v === null) return undefined;
  const trimmed = v.trim().toLowerCase();
  return TRACEPARENT.test(trimmed) ? trimmed : undefined;
}
