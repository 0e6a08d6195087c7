import { setMaxListeners } from "node:events";
import { create } from "@bufbuild/protobuf";
import {
  Code,
  type ConnectRouter,
  createContextValues,
  createRouterTransport,
  type Interceptor,
  type Transport,
} from "@connectrpc/connect";
import { createAuthInterceptor } from "@cpg/auth";
import { attachPeerCertificate } from "@cpg/auth/node";
import {
  createDrain,
  createEventStream,
  createNodeConnectAdapter,
  createServingStatusRegistry,
  type EventStream,
  handleProbe,
  listen,
  type NodeListener,
  type NodeRequestHandler,
  registerHealthServices,
  type ServingStatusRegistry,
  sanitizeErrorMetadata,
} from "@cpg/plugin-sdk/internal";
import type { Capability, PluginInfo } from "@cpg/protocol";
import {
  BROKER_PATH_PREFIX,
  CAPABILITIES_PATH_PREFIX,
  CapabilitySchema,
  PluginInfoSchema,
  SERVICES_PATH_PREFIX,
  ServiceRegistry as ServiceRegistryService,
  serviceEndpointUrl,
} from "@cpg/protocol";
import { attachClientAddress, createRateLimiter } from "@cpg/ratelimit";
import { createValidationInterceptor } from "@cpg/validation";
import { registerAdminService } from "./admin/admin-service.js";
import { createEventLog, fieldString } from "./admin/event-log.js";
import { feedHostEvents } from "./admin/host-event-feed.js";
import { operatorAuthenticator } from "./admin/operator-authenticator.js";
import { createAuditor } from "./audit/audit-sink.js";
import { auditAuthFailures } from "./audit/auth-failure-audit.js";
import { createHostAudit } from "./audit/host-audit.js";
import { registerBrokerService } from "./broker/broker-service.js";
import { createCapabilityGateway } from "./broker/capability-gateway.js";
import { type CapabilityRegistry, createCapabilityRegistry } from "./broker/capability-registry.js";
import { createGrantStore, type GrantStore } from "./broker/grant-store.js";
import { loggerCapability } from "./capabilities/logger-capability.js";
import { storeCapability } from "./capabilities/store-capability.js";
import { createSharedRateLimitStore } from "./cluster/shared-rate-limit-store.js";
import { createStateReplication, type StateReplication } from "./cluster/state-replication.js";
import { redactStoreUrl } from "./cluster/store-options.js";
import type { HostEvent } from "./events/host-event.js";
import { registerHandshakeService } from "./handshake/handshake-service.js";
import { createReplayGuard } from "./handshake/replay-guard.js";
import { registerLifecycleService } from "./health/lifecycle-service.js";
import { createPluginHealthTable, type PluginHealthTable } from "./health/plugin-health.js";
import { HostError } from "./host-error.js";
import { type HostOptions, plaintextRefused, resolveHostOptions } from "./host-options.js";
import { createRuntimeIdentities, type RuntimeIdentities } from "./identity/runtime-identities.js";
import { createInMemoryPlugins, type InMemoryPluginInput } from "./in-memory/in-memory-plugins.js";
import { createHostHttp2, type NativeStreamHandler } from "./listener/host-http2.js";
import { nativeExchange } from "./listener/native-exchange.js";
import {
  type AdoptedPlugin,
  type AdoptPluginOptions,
  adoptPlugin,
} from "./managed/adopt-plugin.js";
import { createHostMetrics } from "./observability/host-metrics.js";
import { createMetricsEndpoint } from "./observability/metrics-endpoint.js";
import { createPlatform, type Platform } from "./platform/platform.js";
import { createAllowListPolicy } from "./policy/allow-list-policy.js";
import {
  type RegistryServiceOptions,
  registerRegistryService,
  registryServiceImpl,
} from "./registry/registry-service.js";
import { createSelector } from "./registry/selection-strategy.js";
import { createServiceRegistry, type ServiceRegistry } from "./registry/service-registry.js";
import { createServiceWatchHub } from "./registry/service-watch.js";
import { writeRpcError } from "./router/error-response.js";
import type { RouterRequest, RouterResponse } from "./router/routed-call.js";
import { createServiceRouter, type ServiceRouter } from "./router/service-router.js";
import { createUpstreamPool } from "./router/upstream-pool.js";
import { wireProtocolOf } from "./router/wire-protocol.js";
import { createHostRateLimitInterceptor } from "./security/host-rate-limits.js";
import { isPublicService } from "./security/public-procedures.js";
import { runtimeTokenAuthenticator } from "./security/runtime-token-authenticator.js";
import { PROFILE_DEFAULTS } from "./security/security-profile.js";
import { warnPlaintextOnce } from "./security/tls-warning.js";
import { createServerStreamHandler } from "./server/server-stream-handler.js";

/**
 * Where and how {@link Host.listen} binds.
 */
export interface ListenOptions {
  /** Port; 0 picks a free one. Default: 0. */
  readonly port?: number;
  /** Address to bind. Default: `"127.0.0.1"`. */
  readonly host?: string;
}

/**
 * A cpg plugin host.
 */
export interface Host {
  /** Every plugin-related event on this host, in one stream. */
  readonly events: EventStream<HostEvent>;
  /** Runtime identities: issue, verify, refresh, revoke. */
  readonly identities: RuntimeIdentities;
  /** Last reported health of every runtime. */
  readonly health: PluginHealthTable;
  /** Registered services. */
  readonly registry: ServiceRegistry;
  /** Capabilities the host offers; add your own with `capabilities.register(...)`. */
  readonly capabilities: CapabilityRegistry;
  /** Capability grants: list, refresh, revoke. */
  readonly grants: GrantStore;
  /** The router: calls in flight per provider, draining. */
  readonly router: ServiceRouter;
  /** Managed plugins: start in dependency order, add, remove, replace. */
  readonly platform: Platform;
  /** Records an audit event (time added, secrets redacted). */
  audit(event: string, fields?: Record<string, unknown>): void;
  /** Serving status behind the health services and `/readyz`. */
  readonly serving: ServingStatusRegistry;
  /**
   * Node request handler serving Connect, gRPC and gRPC-Web plus `/healthz`
   * and `/readyz`. Mount it in your own `http`, `https` or `http2` server, or
   * let {@link Host.listen} create one.
   */
  readonly handler: NodeRequestHandler;
  /** Interceptors every host call goes through (drain, auth, rate limits, validation). */
  readonly interceptors: readonly Interceptor[];
  /** Registers the host's services on a Connect router. */
  routes(router: ConnectRouter): void;
  /**
   * A transport that reaches this host in memory, through the same
   * interceptors as network calls (for in-process plugins and tests).
   * `interceptors` run on the client side of it.
   */
  createInMemoryTransport(options?: {
    interceptors?: Interceptor[];
    /**
     * The in-process plugin that will join through this transport (an SDK
     * `Plugin`, or just its request handler): the router then reaches it in
     * memory, without sockets, and, given the plugin's `routes` and
     * `interceptors`, calls from other in-process plugins reach its
     * implementations directly (see {@link Host.createRouterTransport}).
     */
    plugin?: InMemoryPluginInput;
  }): Transport;
  /**
   * A transport for an in-process plugin's calls through the router to the
   * provider at `endpointUrl` (`/services/{type}/{provider}`), when that
   * provider is in process: the router admits each call as it admits network
   * calls, then hands it to the provider's implementation through the
   * provider's interceptors, cloning messages instead of serializing them.
   * Undefined when the provider is not in process. `interceptors` are the
   * caller's (its credentials).
   */
  createRouterTransport(endpointUrl: string, interceptors: Interceptor[]): Transport | undefined;
  /**
   * Connects to the shared store and loads the state the replicas share
   * (`store` set to Redis); `listen()` calls it. Call it yourself before
   * serving {@link Host.handler} from your own server. Resolves at once for
   * the in-memory store; rejects with `HostError("store_unavailable")` when
   * Redis cannot be reached.
   */
  start(): Promise<void>;
  /** This host's replica id in the shared store; undefined with the in-memory store. */
  readonly replicaId: string | undefined;
  /** Starts serving on one port (HTTP/1.1 and HTTP/2, TLS when configured). */
  listen(options?: ListenOptions): Promise<{ readonly url: string; readonly port: number }>;
  /** Base URL once listening (or the configured public URL). */
  readonly url: string | undefined;
  /**
   * Manages an already running plugin (managed model): reads its info,
   * assigns a runtime identity with `SetRuntimeIdentity` (including this
   * host's URL) and waits until it reports HEALTHY.
   */
  adoptPlugin(url: string, options?: AdoptPluginOptions): Promise<AdoptedPlugin>;
  /** Adds a hook that `close()` runs after draining, in reverse order of addition. */
  onClose(hook: () => void | Promise<void>): void;
  /**
   * Graceful shutdown: reports NOT_SERVING, refuses new calls, waits for calls
   * in flight (at most `shutdownTimeoutMs`), runs the close hooks, then closes
   * every connection. Safe to call twice.
   */
  close(): Promise<void>;
}

/**
 * Creates a cpg plugin host.
 *
 * @example
 * ```ts
 * import { createHost } from "@cpg/host";
 *
 * const host = createHost({ profile: "development" });
 * const { url } = await host.listen({ port: 8080 });
 * console.log(`listening on ${url}`);
 * process.on("SIGTERM", () => host.close());
 * ```
 */
export function createHost(options: HostOptions = {}): Host {
  const opts = resolveHostOptions(options);
  const logger = opts.logger;
  const events = createEventStream<HostEvent>((error) =>
    logger.error("host event listener failed", { error }),
  );
  const identities = createRuntimeIdentities({
    ttlMs: opts.runtimeTokenTtlMs,
    maxEntries: opts.maxRuntimes,
    now: opts.now,
    events,
  });
  const health = createPluginHealthTable(events, opts.now);
  const replayGuard = createReplayGuard({
    windowMs: opts.handshake.replayWindowMs,
    maxNonces: opts.handshake.maxNonces,
    required: opts.handshake.requireNonce,
    now: opts.now,
    ...(opts.store
      ? { claim: (nonce: string, windowMs: number) => replication!.claimNonce(nonce, windowMs) }
      : {}),
  });
  const serving = createServingStatusRegistry();
  const drain = createDrain();
  // Ends long-lived watch streams at shutdown, after they saw NOT_SERVING.
  const stopWatches = new AbortController();
  // Every open watch stream listens to this signal until it ends: thousands of
  // listeners are the normal case, not a leak for Node to warn about.
  setMaxListeners(0, stopWatches.signal);
  // Recent events for the admin API (dashboard): routes, health, registry, audit.
  const eventLog = createEventLog(500);
  feedHostEvents(events, eventLog, opts.now);
  const sink = opts.audit ?? ((event) => logger.info("audit", event));
  const audit = createAuditor((event) => {
    sink(event);
    const { time: _time, event: name, ...fields } = event;
    eventLog.push({
      time: opts.now(),
      kind: "audit",
      name,
      fields: Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, fieldString(v)])),
    });
  }, opts.now);
  const hostAudit = createHostAudit({ events, audit });
  const capabilities = createCapabilityRegistry((c) => {
    serving.set(c.service.typeName, "serving");
  });
  // Replicated mode: created once the stores it mirrors exist.
  let replication: StateReplication | undefined;
  const grants = createGrantStore({
    ttlMs: opts.grantTtlMs,
    maxEntries: opts.maxGrants,
    now: opts.now,
    onIssue: (grant) => replication?.grantIssued(grant),
    onRemove: (grant, reason) => {
      if (reason === "revoked") replication?.grantRevoked(grant);
      hostAudit.grantEnded(grant, reason);
      logger.info("capability grant ended", {
        grant_id: grant.grantId,
        runtime_id: grant.runtimeId,
        reason,
      });
    },
  });
  const advertisedCapabilities = (): Capability[] =>
    capabilities.list().map((c) =>
      create(CapabilitySchema, {
        type: c.type,
        version: c.version,
        endpoint: `${host.url ?? ""}${BROKER_PATH_PREFIX}`,
      }),
    );

  // Where managed plugins listen, for registrations without base_url.
  const managedUrls = new Map<string, string>();
  // In-process plugins, by runtime id.
  const inMemory = createInMemoryPlugins();
  events.subscribe((event) => {
    if (event.type === "runtime.ended") {
      health.delete(event.runtimeId);
      grants.revokeRuntime(event.runtimeId);
      managedUrls.delete(event.runtimeId);
      inMemory.forget(event.runtimeId);
    }
  });

  const fallback = PROFILE_DEFAULTS[opts.profile].denyByDefault ? "deny" : "allow";
  const registrationPolicy = createAllowListPolicy(opts.policies.registration, fallback);
  const discoveryPolicy = createAllowListPolicy(opts.policies.discovery, fallback);
  const callerPolicy = createAllowListPolicy(opts.policies.callers, fallback);
  const capabilityPolicy = createAllowListPolicy(opts.policies.capabilities, fallback);
  const registry = createServiceRegistry({
    events,
    health,
    now: opts.now,
    registrationPolicy,
    typeOwnership: fallback === "deny" ? "first-self-id" : "shared",
    maxPerRuntime: opts.maxRegistrationsPerRuntime,
    maxTotal: opts.maxRegistrations,
    explicitlyAllowed: (identity, type) => registrationPolicy.names(identity, type),
    knownBaseUrl: (runtimeId) =>
      inMemory.has(runtimeId) ? `memory://${runtimeId}` : managedUrls.get(runtimeId),
  });
  const watches = createServiceWatchHub(registry, health, events);
  if (opts.store) {
    replication = createStateReplication({
      store: opts.store,
      state: { events, identities, registry, health, grants },
      logger,
      now: opts.now,
      onFreshChange(fresh) {
        if (closing) return;
        serving.set("", fresh ? "serving" : "not_serving");
        if (!fresh) logger.error("out of touch with the shared store for too long: not ready");
      },
    });
  }
  const rateLimitStore =
    replication && opts.store
      ? createSharedRateLimitStore(replication, opts.store.commandTimeoutMs)
      : undefined;
  const selector = createSelector(opts.selectionStrategy);
  const pool = createUpstreamPool();
  const routerLimiter = createRateLimiter({
    rate: opts.router.rateLimit.rate,
    burst: opts.router.rateLimit.burst,
  });
  const metrics = opts.metrics.enabled
    ? createHostMetrics({
        prefix: opts.metrics.prefix,
        ...(opts.metrics.registry ? { registry: opts.metrics.registry } : {}),
        ...(opts.tracer ? { tracer: opts.tracer } : {}),
      })
    : undefined;
  metrics?.observe(events);
  const routerTracer = metrics ? metrics.routerTracer(opts.tracer) : opts.tracer;
  const serviceRouter = createServiceRouter({
    ...(routerTracer ? { tracer: routerTracer } : {}),
    inMemoryHandler: inMemory.handler,
    inMemoryDispatch: inMemory.dispatch,
    audit,
    registry,
    identities,
    health,
    events,
    logger,
    pool,
    drain,
    mayCall: hostAudit.callerPolicy(
      (caller, type) => caller.requires.includes(type) || callerPolicy.allows(caller, type),
    ),
    allowCall: opts.rateLimits ? (callerId) => routerLimiter.tryTake(callerId) : () => true,
    maxTimeoutMs: opts.router.maxTimeoutMs,
    outlierThreshold: opts.router.outlierThreshold,
  });

  const interceptors: Interceptor[] = [
    ...(metrics ? [metrics.metricsInterceptor] : []),
    drain.interceptor,
    sanitizeErrorMetadata,
    auditAuthFailures(audit),
    createAuthInterceptor({
      authenticators: [runtimeTokenAuthenticator(identities), operatorAuthenticator(opts.admin)],
      required: (req) => !isPublicService(req.service.typeName),
    }),
    ...(opts.rateLimits ? [createHostRateLimitInterceptor(opts.rateLimits, rateLimitStore)] : []),
    createValidationInterceptor(
      opts.upstreamAllowList ? { allowedHosts: [...opts.upstreamAllowList] } : {},
    ),
    ...(replication ? [replication.interceptor] : []),
  ];

  const routes = (router: ConnectRouter) => {
    registerHandshakeService(router, {
      magicCookieKey: opts.magicCookie.key,
      magicCookieValue: opts.magicCookie.value,
      appProtocolVersions: opts.appProtocolVersions,
      serverVersion: opts.serverVersion,
      identities,
      capabilities: advertisedCapabilities,
      plugins: () => advertisedPlugins(),
      replay: replayGuard,
      onIssued(identity, requestHeader) {
        inMemory.bind(identity.runtimeId, requestHeader);
      },
      logger,
      audit,
    });
    registerLifecycleService(router, health, identities, logger);
    registerBrokerService(router, brokerOptions);
    registerAdminService(router, () => host, eventLog, stopWatches.signal);
    registerRegistryService(router, registryOptions);
    registerHealthServices(router, serving, stopWatches.signal);
  };

  const registryOptions: RegistryServiceOptions = {
    registry,
    watches,
    identities,
    health,
    selector,
    discoveryPolicy,
    exposeBaseUrl: opts.exposeBaseUrl,
    stop: stopWatches.signal,
    logger,
    audit,
  };
  const brokerOptions = {
    capabilities,
    grants,
    identities,
    policy: capabilityPolicy,
    hostUrl: () => host.url ?? "",
    logger,
    audit,
  };
  const contextValues = (req: Parameters<NodeRequestHandler>[0]) => {
    const values = createContextValues();
    attachPeerCertificate(values, req);
    attachClientAddress(values, req);
    return values;
  };
  // connect-plugin-go advertises the broker under /broker: serve it there too.
  const brokerAdapter = createNodeConnectAdapter({
    routes: (router) => registerBrokerService(router, brokerOptions),
    interceptors,
    readMaxBytes: opts.readMaxBytes,
    requestPathPrefix: BROKER_PATH_PREFIX,
    contextValues,
  });
  const gateway = createCapabilityGateway({
    capabilities,
    grants,
    drain,
    events,
    interceptors: opts.rateLimits
      ? [createHostRateLimitInterceptor(opts.rateLimits, rateLimitStore)]
      : [],
    readMaxBytes: opts.readMaxBytes,
    audit,
  });
  const adapter = createNodeConnectAdapter({
    routes,
    interceptors,
    readMaxBytes: opts.readMaxBytes,
    ...(opts.fallback
      ? { fallback: opts.fallback as Parameters<typeof createNodeConnectAdapter>[0]["fallback"] }
      : {}),
    contextValues,
  });
  // WatchService streams are long-lived and mostly idle: gRPC and Connect
  // binary watchers take the lean streaming path (same interceptors, same
  // implementation), the rest the adapter.
  const watchStreams = createServerStreamHandler({
    method: ServiceRegistryService.method.watchService,
    impl: registryServiceImpl(registryOptions).watchService,
    interceptors,
    contextValues,
    readMaxBytes: opts.readMaxBytes,
  });
  // GET /metrics: admin API key (any role) unless metrics are public.
  const serveMetrics =
    metrics && createMetricsEndpoint({ metrics, admin: opts.admin, public: opts.metrics.public });
  const handler: NodeRequestHandler = (req, res) => {
    const url = req.url ?? "";
    // Routed calls first: they are the hot path.
    if (url.startsWith(SERVICES_PATH_PREFIX)) {
      if (replication !== undefined && !replication.fresh()) {
        const contentType = req.headers["content-type"];
        writeRpcError(
          res,
          wireProtocolOf(contentType),
          Code.Unavailable,
          "this host replica lost its shared state store too long ago to route calls; try another replica",
          contentType,
        );
        return;
      }
      serviceRouter.handle(req, res);
      return;
    }
    if (handleProbe(req, res, serving)) return;
    if (serveMetrics?.(req, res)) return;
    if (url.startsWith(CAPABILITIES_PATH_PREFIX)) {
      gateway(req, res);
      return;
    }
    if (url.startsWith(`${BROKER_PATH_PREFIX}/`)) {
      brokerAdapter(req, res);
      return;
    }
    if (watchStreams(req, res)) return;
    adapter(req, res);
  };

  // Routed calls to HTTP/2 providers on the host's own HTTP/2 connections
  // are served on the caller's stream itself, without node:http2; every
  // other request takes `handler` (see createHostHttp2).
  const nativeRoute: NativeStreamHandler = (stream, socket) => {
    const path = stream.header(":path");
    if (path === undefined || !path.startsWith(SERVICES_PATH_PREFIX)) return undefined;
    if (replication !== undefined && !replication.fresh()) return undefined;
    if (!serviceRouter.forwardsOverHttp2(path, stream.header("content-type"))) return undefined;
    const { req, res, handlers } = nativeExchange(stream, socket);
    // The router reads and writes only what NativeRequest and NativeResponse have.
    serviceRouter.handle(req as unknown as RouterRequest, res as unknown as RouterResponse);
    return handlers;
  };
  const watchServicePath = `/${ServiceRegistryService.typeName}/${ServiceRegistryService.method.watchService.name}`;
  // WatchService streams (gRPC and Connect binary) on the lean streaming
  // path, on the caller's stream itself: a change fans out to thousands.
  const nativeWatch: NativeStreamHandler = (stream, socket) => {
    if (stream.header(":path") !== watchServicePath) return undefined;
    const { req, res, handlers } = nativeExchange(stream, socket);
    // The lean handler reads and writes only what NativeRequest and NativeResponse have.
    return watchStreams(req as unknown as RouterRequest, res as unknown as RouterResponse)
      ? handlers
      : undefined;
  };
  const nativeStream: NativeStreamHandler = (stream, socket) =>
    nativeRoute(stream, socket) ?? nativeWatch(stream, socket);

  let listener: NodeListener | undefined;
  let closing: Promise<void> | undefined;
  const closeHooks: Array<() => void | Promise<void>> = [];

  for (const name of [
    "connectplugin.v1.HandshakeService",
    "connectplugin.v1.PluginLifecycle",
    "connectplugin.v1.ServiceRegistry",
    "connectplugin.v1.CapabilityBroker",
    "cpg.admin.v1.AdminService",
    "connectplugin.health.v1.HealthService",
    "grpc.health.v1.Health",
  ]) {
    serving.set(name, "serving");
  }
  serving.set("", "serving");

  if (opts.builtInCapabilities) {
    capabilities.register(loggerCapability(logger));
    capabilities.register(storeCapability());
  }

  let platform!: Platform;

  // The managed plugins, as the handshake's `plugins` list describes them.
  const advertisedPlugins = (): PluginInfo[] =>
    platform.list().flatMap((managed) => {
      const identity = managed.runtimeId ? identities.get(managed.runtimeId) : undefined;
      if (identity === undefined) return [];
      return [
        create(PluginInfoSchema, {
          name: managed.name,
          version: identity.selfVersion,
          provides: registry.byRuntime(identity.runtimeId).map((r) => ({
            type: r.serviceType,
            version: r.version,
            path: serviceEndpointUrl(r.serviceType, r.runtimeId),
          })),
          requires: identity.requires.map((type) => ({ type })),
        }),
      ];
    });

  // The getters are defined after the literal: V8 keeps an object literal
  // with accessors in slow dictionary mode, and every `host.identities` (or
  // other) property read would then be a dictionary lookup.
  const members: Omit<Host, "platform" | "url" | "replicaId"> = {
    events,
    identities,
    health,
    registry,
    capabilities,
    grants,
    router: serviceRouter,
    audit,
    serving,
    handler,
    interceptors,
    routes,
    createInMemoryTransport(transportOptions = {}) {
      const clientInterceptors = [...(transportOptions.interceptors ?? [])];
      if (transportOptions.plugin) {
        // A ticket only this transport carries: the handshake binds the runtime
        // id it issues to the plugin, so the router can reach it in memory.
        clientInterceptors.push(inMemory.ticket(transportOptions.plugin));
      }
      return createRouterTransport(routes, {
        router: { interceptors, readMaxBytes: opts.readMaxBytes },
        transport: { interceptors: clientInterceptors },
      });
    },
    createRouterTransport(endpointUrl, callerInterceptors) {
      return inMemory.routerTransport(endpointUrl, callerInterceptors, serviceRouter.inProcess);
    },
    async start() {
      if (closing) throw new HostError("closed", "the host has been closed");
      if (replication === undefined) return;
      try {
        await replication.start();
      } catch (cause) {
        throw new HostError(
          "store_unavailable",
          `cannot reach the shared state store at ${redactStoreUrl(opts.store!.url)}: ${(cause as Error).message}`,
          { cause },
        );
      }
    },
    async listen(listenOptions = {}) {
      if (closing) throw new HostError("closed", "the host has been closed");
      if (listener)
        throw new HostError("already_listening", `the host already listens on ${listener.url}`);
      if (plaintextRefused(opts)) {
        throw new HostError(
          "insecure_config",
          'the "production" profile refuses plaintext: configure tls (cert and key), or set allowInsecure: true',
        );
      }
      await host.start();
      const http2 = createHostHttp2(handler, nativeStream);
      closeHooks.push(http2.close);
      listener = await listen(handler, {
        host: listenOptions.host ?? "127.0.0.1",
        port: listenOptions.port ?? 0,
        ...(opts.tls ? { tls: opts.tls } : {}),
        http2: http2.acceptor,
      });
      if (!opts.tls) warnPlaintextOnce(logger, listener.url);
      events.emit({ type: "host.serving", serving: true });
      logger.info("host listening", {
        url: listener.url,
        profile: opts.profile,
        tls: !!opts.tls,
      });
      return { url: listener.url, port: listener.port };
    },
    adoptPlugin(url, adoptOptions) {
      const hostUrl = host.url;
      if (hostUrl === undefined) {
        return Promise.reject(
          new HostError(
            "not_listening",
            "adoptPlugin needs a listening host (or publicUrl) to hand to the plugin",
          ),
        );
      }
      return adoptPlugin({ hostUrl, identities, health, events, managedUrls }, url, adoptOptions);
    },
    onClose(hook) {
      closeHooks.push(hook);
    },
    close() {
      closing ??= (async () => {
        serving.setAll("not_serving");
        events.emit({ type: "host.serving", serving: false });
        // Managed plugins go first, while the host still answers their goodbyes.
        await platform.close();
        drain.start();
        stopWatches.abort();
        await listener?.stopAccepting();
        const drained = await drain.wait(opts.shutdownTimeoutMs);
        if (!drained) {
          logger.warn("shutdown timeout: cutting calls still in flight", {
            in_flight: drain.inFlight,
          });
        }
        for (const hook of closeHooks.reverse()) {
          try {
            await hook();
          } catch (error) {
            logger.error("close hook failed", { error });
          }
        }
        await replication?.close();
        identities.close();
        grants.close();
        routerLimiter.close();
        await rateLimitStore?.close();
        pool.close();
        await listener?.close(1000);
        logger.info("host closed", { drained });
      })();
      return closing;
    },
  };
  const host = Object.defineProperties(members, {
    platform: { get: () => platform, enumerable: true },
    url: { get: () => opts.publicUrl ?? listener?.url, enumerable: true },
    replicaId: { get: () => replication?.replicaId, enumerable: true },
  }) as Host;
  platform = createPlatform(host, { router: serviceRouter, logger, audit }, opts.platform);
  return host;
}
