import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ConnectRouter } from "@connectrpc/connect";
import { grpcHealthV1, pluginHealthV1 } from "@cpg/protocol";
import type { ServingState, ServingStatusRegistry } from "./serving-status.js";

const GrpcStatus = grpcHealthV1.HealthCheckResponse_ServingStatus;
const PluginStatus = pluginHealthV1.ServingStatus;

function grpcStatus(state: ServingState | undefined) {
  if (state === undefined) return GrpcStatus.SERVICE_UNKNOWN;
  return state === "serving" ? GrpcStatus.SERVING : GrpcStatus.NOT_SERVING;
}

function pluginStatus(state: ServingState | undefined) {
  if (state === undefined) return PluginStatus.SERVICE_UNKNOWN;
  return state === "serving" ? PluginStatus.SERVING : PluginStatus.NOT_SERVING;
}

/**
 * Yields the status of `service` now and on every change, until the caller
 * goes away. Consecutive identical statuses are collapsed; a slow reader
 * sees the latest status (one pending value, never a growing queue).
 */
async function* watchStatus(
  registry: ServingStatusRegistry,
  service: string,
  signals: readonly AbortSignal[],
): AsyncGenerator<ServingState | undefined> {
  let pending = true;
  let wake: (() => void) | undefined;
  const unsubscribe = registry.changes.subscribe((change) => {
    if (change.service !== service) return;
    pending = true;
    wake?.();
  });
  const onAbort = () => wake?.();
  for (const signal of signals) signal.addEventListener("abort", onAbort);
  try {
    let last: ServingState | undefined | null = null;
    for (;;) {
      // Deliver what changed before honouring a stop, so watchers of a
      // closing server see NOT_SERVING before the stream ends.
      if (pending) {
        pending = false;
        const state = registry.get(service);
        if (state !== last) {
          last = state;
          yield state;
        }
        continue;
      }
      if (signals.some((s) => s.aborted)) return;
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
      wake = undefined;
    }
  } finally {
    unsubscribe();
    for (const signal of signals) signal.removeEventListener("abort", onAbort);
  }
}

/**
 * Registers `grpc.health.v1.Health` (Check, List, Watch) and
 * `connectplugin.health.v1.HealthService` (Check, Watch) on a router, both
 * answering from one {@link ServingStatusRegistry}. These services need no
 * authentication, so that probes and load balancers can use them. Watch
 * streams end when the caller goes away or `stop` aborts (server shutdown).
 */
export function registerHealthServices(
  router: ConnectRouter,
  registry: ServingStatusRegistry,
  stop: AbortSignal = new AbortController().signal,
): void {
  router.service(grpcHealthV1.Health, {
    check(req) {
      const state = registry.get(req.service);
      if (state === undefined) {
        throw new ConnectError(`unknown service ${JSON.stringify(req.service)}`, Code.NotFound);
      }
      return create(grpcHealthV1.HealthCheckResponseSchema, { status: grpcStatus(state) });
    },
    list() {
      const statuses: Record<string, grpcHealthV1.HealthCheckResponse> = {};
      for (const [service, state] of registry.entries()) {
        statuses[service] = create(grpcHealthV1.HealthCheckResponseSchema, {
          status: grpcStatus(state),
        });
      }
      return create(grpcHealthV1.HealthListResponseSchema, { statuses });
    },
    async *watch(req, ctx) {
      for await (const state of watchStatus(registry, req.service, [ctx.signal, stop])) {
        yield create(grpcHealthV1.HealthCheckResponseSchema, { status: grpcStatus(state) });
      }
    },
  });
  router.service(pluginHealthV1.HealthService, {
    check(req) {
      const state = registry.get(req.service);
      if (state === undefined) {
        throw new ConnectError(`unknown service ${JSON.stringify(req.service)}`, Code.NotFound);
      }
      return create(pluginHealthV1.HealthCheckResponseSchema, { status: pluginStatus(state) });
    },
    async *watch(req, ctx) {
      for await (const state of watchStatus(registry, req.service, [ctx.signal, stop])) {
        yield create(pluginHealthV1.HealthCheckResponseSchema, { status: pluginStatus(state) });
      }
    },
  });
}
