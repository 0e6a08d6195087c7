import type * as http2 from "node:http2";
import { Code, ConnectError, type ContextValues, createContextValues } from "@connectrpc/connect";
import { attachPeerCertificate } from "@cpg/auth/node";
import type { Logger } from "@cpg/plugin-sdk";
import type { Drain, EventStream, NodeRequestHandler } from "@cpg/plugin-sdk/internal";
import {
  AUTHORIZATION_HEADER,
  CALLER_ID_HEADER,
  HealthState,
  joinProviderPath,
  parseServiceRoute,
  RUNTIME_ID_HEADER,
} from "@cpg/protocol";
import type { HostEvent } from "../events/host-event.js";
import type { H2ClientSession } from "../h2-client/h2-client-session.js";
import type { PluginHealthTable } from "../health/plugin-health.js";
import type { RuntimeIdentities } from "../identity/runtime-identities.js";
import type { RuntimeIdentity } from "../identity/runtime-identity.js";
import type { InProcessRoutes } from "../in-memory/in-process-router-transport.js";
import type { ServiceDispatch } from "../in-memory/service-dispatch.js";
import {
  type HostTracer,
  parentTraceparent,
  TRACEPARENT_HEADER,
} from "../observability/host-tracer.js";
import type { Registration } from "../registry/registration.js";
import type { ServiceRegistry } from "../registry/service-registry.js";
import { verifyRuntimeCredentials } from "../security/runtime-token-authenticator.js";
import { requestTimeoutMs, timeoutHeader } from "./deadline.js";
import { codeName } from "./error-response.js";
import { requestFields, requestHeaders } from "./forwarded-headers.js";
import { forwardHttp1 } from "./http1-forwarder.js";
import { forwardHttp2 } from "./http2-forwarder.js";
import {
  RoutedCall,
  type RoutedCallSink,
  type RouterRequest,
  type RouterResponse,
} from "./routed-call.js";
import type { UpstreamPool } from "./upstream-pool.js";
import { upstreamTarget } from "./upstream-target.js";
import { wireProtocolOf } from "./wire-protocol.js";

/**
 * What the router needs from the host.
 */
export interface ServiceRouterOptions {
  readonly registry: ServiceRegistry;
  readonly identities: RuntimeIdentities;
  readonly health: PluginHealthTable;
  readonly events: EventStream<HostEvent>;
  readonly logger: Logger;
  readonly pool: UpstreamPool;
  readonly drain: Drain;
  /** Whether `caller` may call `serviceType` (the caller policy). */
  readonly mayCall: (caller: RuntimeIdentity, serviceType: string) => boolean;
  /** Rate limit per caller: true to allow the call. */
  readonly allowCall: (callerId: string) => boolean;
  /** Longest deadline a caller may set, in milliseconds; longer ones are cut to it. */
  readonly maxTimeoutMs: number;
  /** Consecutive transport failures after which a provider is taken out. */
  readonly outlierThreshold: number;
  /** The request handler of an in-memory provider (base URL `memory://<runtime id>`). */
  readonly inMemoryHandler: (runtimeId: string) => NodeRequestHandler | undefined;
  /** The implementations of an in-process provider, for calls from in-process plugins. */
  readonly inMemoryDispatch?: (runtimeId: string) => ServiceDispatch | undefined;
  /** Starts a span per routed call (refusals included); see {@link HostTracer}. */
  readonly tracer?: HostTracer;
  /** Records security events (refused caller credentials). Default: none. */
  readonly audit?: (event: string, fields: Record<string, unknown>) => void;
}

/**
 * The host router.
 */
export interface ServiceRouter {
  /** Handles a request for `/services/...`. */
  handle(req: RouterRequest, res: RouterResponse): void;
  /**
   * Whether a call to `path` (`/services/...`) would be forwarded over the
   * router's own HTTP/2 client: its provider is registered, not in-process,
   * and speaks HTTP/2 (or the call is gRPC). Such calls can be served on
   * the host's own HTTP/2 stream; the others take the Node request path.
   */
  forwardsOverHttp2(path: string, contentType: string | undefined): boolean;
  /** Calls in flight to a provider. */
  inFlight(providerId: string): number;
  /** Resolves when no call to `providerId` is in flight, or after `timeoutMs`; true when drained. */
  waitIdle(providerId: string, timeoutMs: number): Promise<boolean>;
  /**
   * Sends calls addressed to `from` (a provider being replaced) to `to` from
   * now on, so callers holding the old endpoint URL are not cut off.
   */
  alias(from: string, to: string): void;
  /** Admission of calls from in-process plugins to in-process providers. */
  readonly inProcess: InProcessRoutes;
}

const noop = () => {};

/**
 * Creates the host router: a Node request handler for
 * `/services/{type}/{provider}/{rest}` that authenticates the caller, checks
 * that `{provider}` registered `{type}` and may receive calls, and forwards
 * the call's bytes and frames (never re-encoding messages) to the provider:
 * over its HTTP/2 session when the provider speaks HTTP/2, over HTTP/1.1
 * otherwise. Deadlines come from the caller (cut to `maxTimeoutMs`);
 * cancellation on either side ends the other. Every refusal is an RPC error
 * in the caller's protocol.
 */
export function createServiceRouter(options: ServiceRouterOptions): ServiceRouter {
  const { registry, identities, logger, pool, events } = options;
  const failures = new Map<string, number>();
  const inFlight = new Map<string, number>();
  const idleWaiters = new Map<string, Set<() => void>>();
  const aliases = new Map<string, string>();
  const leaveProvider = (providerId: string) => {
    const n = (inFlight.get(providerId) ?? 1) - 1;
    if (n > 0) {
      inFlight.set(providerId, n);
      return;
    }
    inFlight.delete(providerId);
    const waiters = idleWaiters.get(providerId);
    if (waiters === undefined) return;
    idleWaiters.delete(providerId);
    for (const wake of waiters) wake();
  };

  const transportFailed = (providerId: string) => {
    const n = (failures.get(providerId) ?? 0) + 1;
    failures.set(providerId, n);
    if (n >= options.outlierThreshold) {
      failures.delete(providerId);
      logger.warn("provider taken out after repeated transport failures", {
        provider_id: providerId,
        failures: n,
      });
      registry.eject(providerId);
    }
  };

  events.subscribe((event) => {
    if (event.type !== "runtime.ended") return;
    failures.delete(event.runtimeId);
    // Aliases to an instance that ended go with it (ids are never reused).
    for (const [from, to] of [...aliases]) {
      if (to === event.runtimeId) aliases.delete(from);
    }
  });

  // What every admitted call reports when it ends; one object for all calls.
  const sink: RoutedCallSink = {
    answered(providerId) {
      if (failures.size > 0) failures.delete(providerId);
    },
    transportFailed,
    completed(call) {
      events.emit({
        type: "route.completed",
        callerId: call.callerId,
        providerId: call.providerId!,
        serviceType: call.serviceType,
        procedure: call.procedure,
        code: call.code,
        durationMs: performance.now() - call.started,
      });
      leaveProvider(call.providerId!);
    },
  };

  // Context values of a connection (its client certificate, if any), read
  // once per HTTP/2 session or HTTP/1.1 socket: every call on it has the same.
  const connectionValues = new WeakMap<object, ContextValues>();
  const peerValues = (req: RouterRequest): ContextValues => {
    const connection =
      req.httpVersionMajor === 2
        ? ((req as http2.Http2ServerRequest).stream?.session ?? req.socket)
        : req.socket;
    let values = connection ? connectionValues.get(connection) : undefined;
    if (values === undefined) {
      values = attachPeerCertificate(createContextValues(), req);
      if (connection) connectionValues.set(connection, values);
    }
    return values;
  };

  const authenticate = (call: RoutedCall): RuntimeIdentity | undefined => {
    const { req } = call;
    try {
      const authorization = req.headers[AUTHORIZATION_HEADER];
      if (typeof authorization !== "string") {
        throw new ConnectError(
          "router calls need the caller's runtime token",
          Code.Unauthenticated,
        );
      }
      const runtimeId = req.headers[RUNTIME_ID_HEADER];
      return verifyRuntimeCredentials(
        identities,
        authorization,
        typeof runtimeId === "string" ? runtimeId : null,
        peerValues(req),
      );
    } catch (error) {
      const e = ConnectError.from(error);
      options.audit?.("auth.failed", {
        where: "router",
        procedure: req.url ?? "",
        claimed_runtime_id: req.headers[RUNTIME_ID_HEADER] ?? "",
        client_address: req.socket?.remoteAddress ?? "",
        reason: e.rawMessage,
      });
      call.fail(e.code, e.rawMessage);
      return undefined;
    }
  };

  const route = (req: RouterRequest, res: RouterResponse): void => {
    const contentType = req.headers["content-type"];
    const protocol = wireProtocolOf(contentType);
    const leaveDrain = options.drain.enter();
    const call = new RoutedCall(
      req,
      res,
      protocol,
      contentType,
      performance.now(),
      leaveDrain ?? noop,
    );
    if (leaveDrain === undefined) {
      call.fail(Code.Unavailable, "host is shutting down");
      return;
    }
    res.once("close", () => call.closed());

    const url = req.url ?? "";
    const parsed = parseServiceRoute(url);
    if (parsed === undefined || parsed.rest === "") {
      call.fail(Code.NotFound, "router paths are /services/{type}/{provider}/{procedure}");
      return;
    }
    const { serviceType } = parsed;
    if (options.tracer) {
      call.span = options.tracer.startSpan(
        `route ${serviceType}`,
        { service_type: serviceType, procedure: parsed.rest },
        parentTraceparent(req.headers[TRACEPARENT_HEADER]),
      );
    }

    const caller = authenticate(call);
    if (caller === undefined) return;
    call.span?.setAttribute("caller_self_id", caller.selfId);
    // A provider being replaced hands its calls to its successor.
    let providerId = parsed.providerId;
    let registration = registry.find(serviceType, providerId);
    if (registration === undefined && aliases.size > 0) {
      providerId = aliases.get(providerId) ?? providerId;
      registration = registry.find(serviceType, providerId);
    }
    if (!options.allowCall(caller.runtimeId)) {
      call.fail(
        Code.ResourceExhausted,
        `rate limit exceeded for calls through the router by ${caller.runtimeId}`,
      );
      return;
    }
    if (!options.mayCall(caller, serviceType)) {
      call.fail(
        Code.PermissionDenied,
        `plugin "${caller.selfId}" may not call service type "${serviceType}"; declare it in requires`,
      );
      return;
    }
    if (registration === undefined) {
      call.fail(
        Code.NotFound,
        `provider "${providerId}" does not provide service type "${serviceType}"`,
      );
      return;
    }
    if (
      registry.isEjected(providerId) ||
      options.health.get(providerId)?.state === HealthState.UNHEALTHY
    ) {
      call.fail(Code.Unavailable, `provider "${providerId}" of "${serviceType}" is not available`);
      return;
    }
    const timeout = requestTimeoutMs(req.headers);
    if (timeout !== undefined && !(timeout >= 0)) {
      call.fail(Code.InvalidArgument, "malformed deadline header");
      return;
    }
    const deadline = timeout === undefined ? undefined : Math.min(timeout, options.maxTimeoutMs);
    const q = url.indexOf("?");
    const query = q === -1 ? "" : url.slice(q);
    const path = joinProviderPath(registration.endpointPath, parsed.rest);
    if (call.span) {
      // The registration carries the provider's self_id: no identity lookup per call.
      call.span.setAttribute("provider_self_id", registration.selfId || "unknown");
      call.span.setAttribute("procedure", path);
    }

    logger.debug("routing call", {
      caller_id: caller.runtimeId,
      provider_id: providerId,
      service_type: serviceType,
      procedure: path,
    });

    const headers = requestHeaders(req.headers);
    headers[CALLER_ID_HEADER] = caller.runtimeId;
    if (deadline !== undefined) {
      const [name, value] = timeoutHeader(
        protocol === "connect-unary" || protocol === "connect-stream" ? "connect" : "grpc",
        deadline,
      );
      headers[name] = value;
    }
    if (protocol === "grpc") headers.te = "trailers";
    // The provider's span is a child of the router's when the tracer says so.
    const traceparent = call.span?.traceparent?.();
    if (traceparent) headers[TRACEPARENT_HEADER] = traceparent;

    call.callerId = caller.runtimeId;
    call.serviceType = serviceType;
    call.procedure = path;
    inFlight.set(providerId, (inFlight.get(providerId) ?? 0) + 1);
    call.forward(providerId, sink);

    if (registration.baseUrl?.startsWith("memory://")) {
      dispatchInMemory(call, registration, path + query, headers);
      return;
    }
    const target = upstreamTarget(registration);
    if (!registration.http2 && protocol !== "grpc") {
      forwardHttp1(
        call,
        target,
        target.pathPrefix + path + query,
        headers,
        pool.agent(target.origin),
        deadline,
      );
      return;
    }
    let session: H2ClientSession;
    try {
      session = pool.session(target.origin);
    } catch (error) {
      call.transportFailed();
      call.unavailable(`provider "${providerId}" is unreachable`);
      logger.warn("provider unreachable", { provider_id: providerId, error });
      return;
    }
    forwardHttp2(
      call,
      session,
      requestFields(
        req.method ?? "POST",
        target.scheme,
        target.authority,
        target.pathPrefix + path + query,
        headers,
      ),
      deadline,
    );
  };

  // An in-memory provider gets the request object itself: no socket, no copy.
  const dispatchInMemory = (
    call: RoutedCall,
    r: Registration,
    target: string,
    outHeaders: Record<string, string | string[]>,
  ) => {
    const { req, res } = call;
    const handler = options.inMemoryHandler(r.runtimeId);
    if (handler === undefined) {
      call.unavailable(`provider "${r.runtimeId}" is not running`);
      return;
    }
    for (const name of Object.keys(req.headers)) {
      // The Host header stays: it is how HTTP/1.1 requests name their authority.
      if (!name.startsWith(":") && name !== "host" && !(name in outHeaders))
        delete req.headers[name];
    }
    Object.assign(req.headers, outHeaders);
    req.url = target;
    try {
      handler(req, res);
    } catch (error) {
      call.code = codeName(Code.Internal);
      logger.error("in-memory provider failed", { provider_id: r.runtimeId, error });
      call.fail(Code.Internal, `provider "${r.runtimeId}" failed`);
    }
  };

  const resolve = (serviceType: string, providerId: string): string =>
    aliases.size > 0 && registry.find(serviceType, providerId) === undefined
      ? (aliases.get(providerId) ?? providerId)
      : providerId;

  // The same checks as `route`, in the same order, for a call that arrives
  // as headers and a message instead of an HTTP request.
  const inProcess: InProcessRoutes = {
    resolve,
    dispatch: (runtimeId) => options.inMemoryDispatch?.(runtimeId),
    admit(header, serviceType, requestedId, procedure) {
      const leaveDrain = options.drain.enter();
      if (leaveDrain === undefined) {
        throw new ConnectError("host is shutting down", Code.Unavailable);
      }
      const started = performance.now();
      let span = options.tracer?.startSpan(
        `route ${serviceType}`,
        { service_type: serviceType, procedure },
        parentTraceparent(header.get(TRACEPARENT_HEADER) ?? undefined),
      );
      const refuse = (code: Code, message: string) => {
        leaveDrain();
        span?.end(codeName(code));
        return new ConnectError(message, code);
      };
      let caller: RuntimeIdentity;
      try {
        const authorization = header.get(AUTHORIZATION_HEADER);
        if (authorization === null) {
          throw new ConnectError(
            "router calls need the caller's runtime token",
            Code.Unauthenticated,
          );
        }
        caller = verifyRuntimeCredentials(
          identities,
          authorization,
          header.get(RUNTIME_ID_HEADER),
          createContextValues(),
        );
      } catch (error) {
        const e = ConnectError.from(error);
        options.audit?.("auth.failed", {
          where: "router",
          procedure,
          claimed_runtime_id: header.get(RUNTIME_ID_HEADER) ?? "",
          client_address: "in-process",
          reason: e.rawMessage,
        });
        throw refuse(e.code, e.rawMessage);
      }
      span?.setAttribute("caller_self_id", caller.selfId);
      const providerId = resolve(serviceType, requestedId);
      const registration = registry.find(serviceType, providerId);
      if (!options.allowCall(caller.runtimeId)) {
        throw refuse(
          Code.ResourceExhausted,
          `rate limit exceeded for calls through the router by ${caller.runtimeId}`,
        );
      }
      if (!options.mayCall(caller, serviceType)) {
        throw refuse(
          Code.PermissionDenied,
          `plugin "${caller.selfId}" may not call service type "${serviceType}"; declare it in requires`,
        );
      }
      if (registration === undefined) {
        throw refuse(
          Code.NotFound,
          `provider "${providerId}" does not provide service type "${serviceType}"`,
        );
      }
      if (
        registry.isEjected(providerId) ||
        options.health.get(providerId)?.state === HealthState.UNHEALTHY
      ) {
        throw refuse(
          Code.Unavailable,
          `provider "${providerId}" of "${serviceType}" is not available`,
        );
      }
      span?.setAttribute("provider_self_id", identities.get(providerId)?.selfId ?? "unknown");
      inFlight.set(providerId, (inFlight.get(providerId) ?? 0) + 1);
      let ended = false;
      return {
        callerId: caller.runtimeId,
        providerId,
        maxTimeoutMs: options.maxTimeoutMs,
        end(code) {
          if (ended) return;
          ended = true;
          span?.end(code);
          span = undefined;
          events.emit({
            type: "route.completed",
            callerId: caller.runtimeId,
            providerId,
            serviceType,
            procedure,
            code,
            durationMs: performance.now() - started,
          });
          leaveProvider(providerId);
          leaveDrain();
        },
      };
    },
  };

  const forwardsOverHttp2 = (path: string, contentType: string | undefined): boolean => {
    const parsed = parseServiceRoute(path);
    if (parsed === undefined || parsed.rest === "") return false;
    const providerId = resolve(parsed.serviceType, parsed.providerId);
    const registration = registry.find(parsed.serviceType, providerId);
    if (registration === undefined || registration.baseUrl?.startsWith("memory://")) return false;
    return registration.http2 || wireProtocolOf(contentType) === "grpc";
  };

  return {
    inProcess,
    handle: route,
    forwardsOverHttp2,
    inFlight: (providerId) => inFlight.get(providerId) ?? 0,
    waitIdle(providerId, timeoutMs) {
      if (!inFlight.has(providerId)) return Promise.resolve(true);
      return new Promise<boolean>((resolve) => {
        const waiters = idleWaiters.get(providerId) ?? new Set<() => void>();
        idleWaiters.set(providerId, waiters);
        const wake = () => {
          clearTimeout(timer);
          resolve(true);
        };
        const timer = setTimeout(() => {
          waiters.delete(wake);
          resolve(false);
        }, timeoutMs);
        waiters.add(wake);
      });
    },
    alias(from, to) {
      aliases.set(from, to);
    },
  };
}
