import type * as http from "node:http";
import * as httpClient from "node:http";
import * as http2 from "node:http2";
import * as httpsClient from "node:https";
import { Code, ConnectError, createContextValues } from "@connectrpc/connect";
import { attachPeerCertificate } from "@cpg/auth/node";
import type { Logger } from "@cpg/plugin-sdk";
import {
  CONNECTION_HEADERS,
  type Drain,
  type EventStream,
  type NodeRequestHandler,
} from "@cpg/plugin-sdk/internal";
import {
  AUTHORIZATION_HEADER,
  CALLER_ID_HEADER,
  HealthState,
  joinProviderPath,
  parseServiceRoute,
  RUNTIME_ID_HEADER,
} from "@cpg/protocol";
import type { HostEvent } from "../events/host-event.js";
import type { PluginHealthTable } from "../health/plugin-health.js";
import type { RuntimeIdentities } from "../identity/runtime-identities.js";
import type { RuntimeIdentity } from "../identity/runtime-identity.js";
import {
  type HostSpan,
  type HostTracer,
  parentTraceparent,
  TRACEPARENT_HEADER,
} from "../observability/host-tracer.js";
import type { Registration } from "../registry/registration.js";
import type { ServiceRegistry } from "../registry/service-registry.js";
import { verifyRuntimeCredentials } from "../security/runtime-token-authenticator.js";
import { requestTimeoutMs, timeoutHeader } from "./deadline.js";
import { codeName, codeOfHttpStatus, writeRpcError } from "./error-response.js";
import type { UpstreamPool } from "./upstream-pool.js";
import { type WireProtocol, wireProtocolOf } from "./wire-protocol.js";

type Request = http.IncomingMessage | http2.Http2ServerRequest;
type Response = http.ServerResponse | http2.Http2ServerResponse;

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
  handle(req: Request, res: Response): void;
  /** Calls in flight to a provider. */
  inFlight(providerId: string): number;
  /** Resolves when no call to `providerId` is in flight, or after `timeoutMs`; true when drained. */
  waitIdle(providerId: string, timeoutMs: number): Promise<boolean>;
  /**
   * Sends calls addressed to `from` (a provider being replaced) to `to` from
   * now on, so callers holding the old endpoint URL are not cut off.
   */
  alias(from: string, to: string): void;
}

// Request headers that never reach a provider: hop-by-hop headers, and
// everything that identifies the caller (the router sets its own).
const DROPPED_REQUEST_HEADERS = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "upgrade",
  "host",
  "http2-settings",
  "te",
  AUTHORIZATION_HEADER,
  "proxy-authorization",
  "x-api-key",
  RUNTIME_ID_HEADER,
  CALLER_ID_HEADER,
  "connect-timeout-ms",
  "grpc-timeout",
]);

const DROPPED_RESPONSE_HEADERS = new Set(CONNECTION_HEADERS);

function forwardedHeaders(req: Request): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined || name.startsWith(":") || DROPPED_REQUEST_HEADERS.has(name)) continue;
    out[name] = value;
  }
  return out;
}

function responseHeaders(headers: http.IncomingHttpHeaders | http2.IncomingHttpHeaders) {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || name.startsWith(":") || DROPPED_RESPONSE_HEADERS.has(name)) continue;
    out[name] = value;
  }
  return out;
}

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
  const enterProvider = (providerId: string) => {
    inFlight.set(providerId, (inFlight.get(providerId) ?? 0) + 1);
    let left = false;
    return () => {
      if (left) return;
      left = true;
      const n = (inFlight.get(providerId) ?? 1) - 1;
      if (n > 0) {
        inFlight.set(providerId, n);
        return;
      }
      inFlight.delete(providerId);
      for (const wake of idleWaiters.get(providerId) ?? []) wake();
      idleWaiters.delete(providerId);
    };
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

  const route = (req: Request, res: Response): void => {
    const started = performance.now();
    const contentType = req.headers["content-type"];
    const protocol: WireProtocol = wireProtocolOf(contentType);
    let span: HostSpan | undefined;
    // Ends the span once, with the first code known.
    const endSpan = (code: string) => {
      const s = span;
      span = undefined;
      s?.end(code);
    };
    const fail = (code: Code, message: string) => {
      endSpan(codeName(code));
      writeRpcError(res, protocol, code, message, contentType);
    };
    const end = options.drain.enter();
    if (end === undefined) {
      fail(Code.Unavailable, "host is shutting down");
      return;
    }
    res.once("close", end);

    const parsed = parseServiceRoute(req.url ?? "");
    if (parsed === undefined || parsed.rest === "") {
      fail(Code.NotFound, "router paths are /services/{type}/{provider}/{procedure}");
      return;
    }
    span = options.tracer?.startSpan(
      `route ${parsed.serviceType}`,
      { service_type: parsed.serviceType, procedure: parsed.rest },
      parentTraceparent(req.headers[TRACEPARENT_HEADER]),
    );

    let caller: RuntimeIdentity;
    try {
      const authorization = req.headers[AUTHORIZATION_HEADER];
      if (typeof authorization !== "string") {
        throw new ConnectError(
          "router calls need the caller's runtime token",
          Code.Unauthenticated,
        );
      }
      const runtimeId = req.headers[RUNTIME_ID_HEADER];
      const values = createContextValues();
      attachPeerCertificate(values, req);
      caller = verifyRuntimeCredentials(
        identities,
        authorization,
        typeof runtimeId === "string" ? runtimeId : null,
        values,
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
      fail(e.code, e.rawMessage);
      return;
    }
    span?.setAttribute("caller_self_id", caller.selfId);
    const { serviceType } = parsed;
    const providerId =
      registry.find(serviceType, parsed.providerId) === undefined
        ? (aliases.get(parsed.providerId) ?? parsed.providerId)
        : parsed.providerId;
    if (!options.allowCall(caller.runtimeId)) {
      fail(
        Code.ResourceExhausted,
        `rate limit exceeded for calls through the router by ${caller.runtimeId}`,
      );
      return;
    }
    if (!options.mayCall(caller, serviceType)) {
      fail(
        Code.PermissionDenied,
        `plugin "${caller.selfId}" may not call service type "${serviceType}"; declare it in requires`,
      );
      return;
    }
    const registration = registry.find(serviceType, providerId);
    if (registration === undefined) {
      fail(
        Code.NotFound,
        `provider "${providerId}" does not provide service type "${serviceType}"`,
      );
      return;
    }
    if (
      registry.isEjected(providerId) ||
      options.health.get(providerId)?.state === HealthState.UNHEALTHY
    ) {
      fail(Code.Unavailable, `provider "${providerId}" of "${serviceType}" is not available`);
      return;
    }
    const timeout = requestTimeoutMs(req.headers);
    if (timeout !== undefined && !(timeout >= 0)) {
      fail(Code.InvalidArgument, "malformed deadline header");
      return;
    }
    const deadline = timeout === undefined ? undefined : Math.min(timeout, options.maxTimeoutMs);
    const query = (req.url ?? "").includes("?")
      ? (req.url ?? "").slice((req.url ?? "").indexOf("?"))
      : "";
    const path = joinProviderPath(registration.endpointPath, parsed.rest);
    span?.setAttribute("provider_self_id", identities.get(providerId)?.selfId ?? "unknown");
    span?.setAttribute("procedure", path);

    logger.debug("routing call", {
      caller_id: caller.runtimeId,
      provider_id: providerId,
      service_type: serviceType,
      procedure: path,
    });

    const headers = forwardedHeaders(req);
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
    const traceparent = span?.traceparent?.();
    if (traceparent) headers[TRACEPARENT_HEADER] = traceparent;

    let finished = false;
    let code = "ok";
    // Set when the caller goes away first: what follows is not the provider's fault.
    let callerGone = false;
    res.once("close", () => {
      if (!res.writableFinished) {
        callerGone = true;
        if (code === "ok") code = codeName(Code.Canceled);
      }
    });
    const complete = () => {
      if (finished) return;
      finished = true;
      endSpan(code);
      events.emit({
        type: "route.completed",
        callerId: caller.runtimeId,
        providerId,
        serviceType,
        procedure: path,
        code,
        durationMs: performance.now() - started,
      });
    };
    res.once("close", complete);

    res.once("close", enterProvider(providerId));
    if (registration.baseUrl?.startsWith("memory://")) {
      dispatchInMemory(registration, path + query, headers);
      return;
    }
    const proxy = registration.http2 || protocol === "grpc" ? proxyHttp2 : proxyHttp1;
    proxy(registration, path + query, headers, deadline);

    // An in-memory provider gets the request object itself: no socket, no copy.
    function dispatchInMemory(
      r: Registration,
      target: string,
      outHeaders: Record<string, string | string[]>,
    ) {
      const handler = options.inMemoryHandler(r.runtimeId);
      if (handler === undefined) {
        code = codeName(Code.Unavailable);
        fail(Code.Unavailable, `provider "${providerId}" is not running`);
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
        code = codeName(Code.Internal);
        logger.error("in-memory provider failed", { provider_id: providerId, error });
        fail(Code.Internal, `provider "${providerId}" failed`);
      }
    }

    function proxyHttp2(
      r: Registration,
      target: string,
      outHeaders: Record<string, string | string[]>,
      deadlineMs: number | undefined,
    ) {
      const base = new URL(r.baseUrl!);
      let session: http2.ClientHttp2Session;
      try {
        session = pool.session(base.origin);
      } catch (error) {
        transportFailed(providerId);
        code = codeName(Code.Unavailable);
        fail(Code.Unavailable, `provider "${providerId}" is unreachable`);
        logger.warn("provider unreachable", { provider_id: providerId, error });
        return;
      }
      const upstream = session.request({
        ...outHeaders,
        ":method": req.method ?? "POST",
        ":path": `${base.pathname.replace(/\/$/, "")}${target}`,
        ":scheme": base.protocol.slice(0, -1),
        ":authority": base.host,
      });
      let timer: NodeJS.Timeout | undefined;
      if (deadlineMs !== undefined) {
        timer = setTimeout(() => {
          code = codeName(Code.DeadlineExceeded);
          upstream.close(http2.constants.NGHTTP2_CANCEL);
          fail(Code.DeadlineExceeded, "deadline exceeded");
        }, deadlineMs);
      }
      const cleanup = () => clearTimeout(timer);
      // The caller went away: cancel the provider's side too.
      res.once("close", () => {
        cleanup();
        if (!upstream.closed) upstream.close(http2.constants.NGHTTP2_CANCEL);
      });
      upstream.on("response", (h) => {
        failures.delete(providerId);
        const status = Number(h[":status"] ?? 502);
        if (protocol === "connect-unary") {
          const c = codeOfHttpStatus(status);
          if (c !== undefined) code = codeName(c);
        } else if (h["grpc-status"] !== undefined && h["grpc-status"] !== "0") {
          code = codeName(Number(h["grpc-status"]) as Code);
        }
        (res as http.ServerResponse).writeHead(status, responseHeaders(h));
        // Stream frames through as they come: writes flush on both HTTP versions.
        upstream.on("data", (chunk: Buffer) => {
          if (!(res as http.ServerResponse).write(chunk)) {
            upstream.pause();
            res.once("drain", () => upstream.resume());
          }
        });
      });
      upstream.on("trailers", (t) => {
        const status = t["grpc-status"];
        if (status !== undefined && status !== "0") code = codeName(Number(status) as Code);
        res.addTrailers(responseHeaders(t));
      });
      upstream.on("end", () => {
        cleanup();
        if (!res.writableEnded) res.end();
      });
      upstream.on("error", (error) => {
        cleanup();
        if (callerGone) return;
        if (!res.headersSent) {
          transportFailed(providerId);
          code = codeName(Code.Unavailable);
          fail(Code.Unavailable, `provider "${providerId}" failed: ${error.message}`);
        } else if (!res.writableEnded) {
          code = codeName(Code.Unavailable);
          fail(Code.Unavailable, `provider "${providerId}" failed mid-stream`);
        }
      });
      upstream.on("close", () => {
        cleanup();
        if (!res.writableEnded && res.headersSent) {
          // Reset by the provider after answering: end the caller's stream too.
          if (upstream.rstCode !== http2.constants.NGHTTP2_NO_ERROR) {
            fail(Code.Unavailable, `provider "${providerId}" reset the stream`);
          } else {
            res.end();
          }
        } else if (!res.headersSent && !res.writableEnded && !callerGone) {
          transportFailed(providerId);
          fail(Code.Unavailable, `provider "${providerId}" closed the stream without answering`);
        }
      });
      pipeRequest(upstream);
    }

    function proxyHttp1(
      r: Registration,
      target: string,
      outHeaders: Record<string, string | string[]>,
      deadlineMs: number | undefined,
    ) {
      const base = new URL(r.baseUrl!);
      const request = (base.protocol === "https:" ? httpsClient : httpClient).request({
        protocol: base.protocol,
        hostname: base.hostname,
        port: base.port,
        method: req.method ?? "POST",
        path: `${base.pathname.replace(/\/$/, "")}${target}`,
        headers: outHeaders,
        agent: pool.agent(base.origin),
      });
      let timer: NodeJS.Timeout | undefined;
      if (deadlineMs !== undefined) {
        timer = setTimeout(() => {
          code = codeName(Code.DeadlineExceeded);
          request.destroy();
          fail(Code.DeadlineExceeded, "deadline exceeded");
        }, deadlineMs);
      }
      res.once("close", () => {
        clearTimeout(timer);
        if (!request.destroyed) request.destroy();
      });
      request.on("response", (upstream) => {
        failures.delete(providerId);
        const status = upstream.statusCode ?? 502;
        if (protocol === "connect-unary") {
          const c = codeOfHttpStatus(status);
          if (c !== undefined) code = codeName(c);
        }
        (res as http.ServerResponse).writeHead(status, responseHeaders(upstream.headers));
        upstream.on("data", (chunk: Buffer) => {
          if (!(res as http.ServerResponse).write(chunk)) {
            upstream.pause();
            res.once("drain", () => upstream.resume());
          }
        });
        upstream.on("end", () => {
          clearTimeout(timer);
          if (!res.writableEnded) res.end();
        });
        upstream.on("error", () => {
          clearTimeout(timer);
          if (!res.writableEnded)
            fail(Code.Unavailable, `provider "${providerId}" failed mid-stream`);
        });
      });
      request.on("error", (error) => {
        clearTimeout(timer);
        if (res.writableEnded || callerGone) return;
        if (!res.headersSent) transportFailed(providerId);
        code = codeName(Code.Unavailable);
        fail(Code.Unavailable, `provider "${providerId}" failed: ${error.message}`);
      });
      pipeRequest(request);
    }

    function pipeRequest(upstream: NodeJS.WritableStream & { destroyed?: boolean }) {
      req.on("data", (chunk: Buffer) => {
        if (!upstream.write(chunk)) {
          req.pause();
          upstream.once("drain", () => req.resume());
        }
      });
      req.on("end", () => upstream.end());
    }
  };

  return {
    handle: route,
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
