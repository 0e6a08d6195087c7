import { ConnectError, type Interceptor } from "@connectrpc/connect";
import { type EventStream, onStreamEnd } from "@cpg/plugin-sdk/internal";
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { HostEvent } from "../events/host-event.js";
import { HostError } from "../host-error.js";
import { codeName } from "../router/error-response.js";
import {
  type HostSpan,
  type HostTracer,
  parentTraceparent,
  TRACEPARENT_HEADER,
} from "./host-tracer.js";

/**
 * Options of {@link createHostMetrics}.
 */
export interface HostMetricsOptions {
  /**
   * Registry the metrics are registered in. Default: a new `Registry` of its
   * own (not prom-client's global `register`), so two hosts in one process
   * never collide.
   */
  readonly registry?: Registry;
  /** Prefix of every metric name. Default: `"cpg_"`. */
  readonly prefix?: string;
  /** Tracer that the metrics interceptor starts a span with for every host call. Default: none. */
  readonly tracer?: HostTracer;
}

/**
 * Prometheus metrics of one host. Label values are procedures, Connect code
 * names, service types and plugin self_ids, never runtime ids, so the number
 * of series stays bounded however often plugins restart.
 *
 * Series (with the default prefix `cpg_`):
 * - `cpg_host_calls_total{procedure,code}` and
 *   `cpg_host_call_duration_seconds{procedure,code}`: finished calls of the
 *   host's own API, unary and streaming;
 * - `cpg_host_streams_started_total{procedure}`, `cpg_host_open_streams{procedure}`;
 * - `cpg_router_call_duration_seconds{caller_self_id,provider_self_id,service_type,code}`:
 *   routed calls (from `route.completed` events);
 * - `cpg_active_plugins`: live runtime identities;
 * - `cpg_rate_limited_total{where}`: calls ending with `resource_exhausted`
 *   on the host API (`where="host"`) or in the router (`where="router"`);
 * - `cpg_auth_failures_total{where,code}`: calls ending with
 *   `unauthenticated` or `permission_denied`;
 * - `cpg_token_expirations_total`: runtime identities that expired;
 * - `cpg_provider_ejections_total`: providers taken out by the router.
 */
export interface HostMetrics {
  /** The registry holding the metrics. */
  readonly registry: Registry;
  /** Content type of {@link HostMetrics.metrics}' text. */
  readonly contentType: string;
  /**
   * Interceptor recording every host call (unary and streaming): calls,
   * durations and codes by procedure; streams at start and end. Put it first
   * so it sees refusals of the interceptors after it.
   */
  readonly metricsInterceptor: Interceptor;
  /**
   * Wraps the router's tracer so that the codes of routed calls, refusals
   * included, are counted too.
   * @private
   */
  routerTracer(tracer: HostTracer | undefined): HostTracer;
  /** Subscribes to a host's events; returns the unsubscribe function. One host per instance. */
  observe(events: EventStream<HostEvent>): () => void;
  /** The Prometheus text exposition of the registry. */
  metrics(): Promise<string>;
}

const noSpan: HostSpan = { setAttribute() {}, end() {} };

/**
 * Creates the Prometheus metrics of a host (see {@link HostMetrics}); throws
 * a `HostError` with code `invalid_config` when the prefix is not a valid
 * metric name prefix or the registry already holds metrics of that name.
 *
 * @example
 * ```ts
 * const metrics = createHostMetrics({ prefix: "edge_" });
 * metrics.observe(host.events);
 * console.log(await metrics.metrics());
 * ```
 */
export function createHostMetrics(options: HostMetricsOptions = {}): HostMetrics {
  const prefix = options.prefix ?? "cpg_";
  if (!/^([a-zA-Z_:][a-zA-Z0-9_:]*)?$/.test(prefix)) {
    throw new HostError(
      "invalid_config",
      `metrics prefix ${JSON.stringify(prefix)} is not a valid Prometheus name prefix: use letters, digits and _`,
    );
  }
  const registry = options.registry ?? new Registry();
  const tracer = options.tracer;
  const registers = [registry];
  const make = <M>(create: () => M): M => {
    try {
      return create();
    } catch (error) {
      throw new HostError(
        "invalid_config",
        `the metrics registry already holds cpg metrics with prefix ${JSON.stringify(prefix)}: give each host its own registry or prefix`,
        { cause: error },
      );
    }
  };
  const hostCalls = make(
    () =>
      new Counter({
        name: `${prefix}host_calls_total`,
        help: "Finished calls of the host API, by procedure and Connect code.",
        labelNames: ["procedure", "code"] as const,
        registers,
      }),
  );
  const hostDuration = make(
    () =>
      new Histogram({
        name: `${prefix}host_call_duration_seconds`,
        help: "Duration of host API calls (streams: until they end), by procedure and Connect code.",
        labelNames: ["procedure", "code"] as const,
        registers,
      }),
  );
  const streamsStarted = make(
    () =>
      new Counter({
        name: `${prefix}host_streams_started_total`,
        help: "Streaming calls of the host API started, by procedure.",
        labelNames: ["procedure"] as const,
        registers,
      }),
  );
  const openStreams = make(
    () =>
      new Gauge({
        name: `${prefix}host_open_streams`,
        help: "Streaming calls of the host API in progress, by procedure.",
        labelNames: ["procedure"] as const,
        registers,
      }),
  );
  const routerDuration = make(
    () =>
      new Histogram({
        name: `${prefix}router_call_duration_seconds`,
        help: "Duration of routed calls, by caller and provider self_id, service type and Connect code.",
        labelNames: ["caller_self_id", "provider_self_id", "service_type", "code"] as const,
        registers,
      }),
  );
  const activePlugins = make(
    () =>
      new Gauge({
        name: `${prefix}active_plugins`,
        help: "Live runtime identities.",
        registers,
      }),
  );
  const rateLimited = make(
    () =>
      new Counter({
        name: `${prefix}rate_limited_total`,
        help: "Calls ending with resource_exhausted, on the host API or in the router.",
        labelNames: ["where"] as const,
        registers,
      }),
  );
  const authFailures = make(
    () =>
      new Counter({
        name: `${prefix}auth_failures_total`,
        help: "Calls ending with unauthenticated or permission_denied, on the host API or in the router.",
        labelNames: ["where", "code"] as const,
        registers,
      }),
  );
  const tokenExpirations = make(
    () =>
      new Counter({
        name: `${prefix}token_expirations_total`,
        help: "Runtime identities that expired.",
        registers,
      }),
  );
  const ejections = make(
    () =>
      new Counter({
        name: `${prefix}provider_ejections_total`,
        help: "Providers taken out by the router after repeated transport failures.",
        registers,
      }),
  );

  const countRefusal = (where: "host" | "router", code: string) => {
    if (code === "resource_exhausted") rateLimited.inc({ where });
    else if (code === "unauthenticated" || code === "permission_denied") {
      authFailures.inc({ where, code });
    }
  };

  const metricsInterceptor: Interceptor = (next) => async (req) => {
    const procedure = `/${req.service.typeName}/${req.method.name}`;
    const span =
      tracer?.startSpan(
        procedure,
        { procedure },
        parentTraceparent(req.header.get(TRACEPARENT_HEADER)),
      ) ?? noSpan;
    const started = performance.now();
    let streaming = false;
    let done = false;
    const finish = (code: string) => {
      if (done) return;
      done = true;
      hostCalls.inc({ procedure, code });
      hostDuration.observe({ procedure, code }, (performance.now() - started) / 1000);
      if (streaming) openStreams.dec({ procedure });
      countRefusal("host", code);
      span.end(code);
    };
    const failed = (error: unknown) => finish(codeName(ConnectError.from(error).code));
    if (req.stream) {
      streaming = true;
      streamsStarted.inc({ procedure });
      openStreams.inc({ procedure });
    }
    let res: Awaited<ReturnType<typeof next>>;
    try {
      res = await next(req);
    } catch (error) {
      failed(error);
      throw error;
    }
    if (!res.stream) {
      finish("ok");
      return res;
    }
    // Streaming answer: the call ends when its messages do.
    return {
      ...res,
      message: onStreamEnd(res.message, (end) => {
        if (end.failed) failed(end.error);
        else finish(req.signal.aborted ? "canceled" : "ok");
      }),
    };
  };

  return {
    registry,
    contentType: registry.contentType,
    metricsInterceptor,
    routerTracer(inner) {
      return {
        startSpan(name, attributes, parent) {
          const span = inner?.startSpan(name, attributes, parent);
          let ended = false;
          return {
            setAttribute: (k, v) => span?.setAttribute(k, v),
            end(code) {
              if (ended) return;
              ended = true;
              countRefusal("router", code ?? "ok");
              span?.end(code);
            },
            ...(span?.traceparent ? { traceparent: () => span.traceparent!() } : {}),
          };
        },
      };
    },
    observe(events) {
      // Runtime id -> self_id of live runtimes: labels carry self_ids only.
      const selfIds = new Map<string, string>();
      return events.subscribe((event) => {
        switch (event.type) {
          case "runtime.issued":
            selfIds.set(event.runtimeId, event.selfId);
            activePlugins.set(selfIds.size);
            break;
          case "runtime.ended":
            selfIds.delete(event.runtimeId);
            activePlugins.set(selfIds.size);
            if (event.reason === "expired") tokenExpirations.inc();
            break;
          case "provider.ejected":
            if (event.ejected) ejections.inc();
            break;
          case "route.completed":
            routerDuration.observe(
              {
                caller_self_id: selfIds.get(event.callerId) ?? "unknown",
                provider_self_id: selfIds.get(event.providerId) ?? "unknown",
                service_type: event.serviceType,
                code: event.code,
              },
              event.durationMs / 1000,
            );
            break;
        }
      });
    },
    metrics: () => registry.metrics(),
  };
}
