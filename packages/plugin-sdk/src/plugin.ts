import { setMaxListeners } from "node:events";
import { create, type DescService } from "@bufbuild/protobuf";
import {
  type Client,
  type ConnectRouter,
  createClient,
  createContextValues,
  type Interceptor,
  type Transport,
} from "@connectrpc/connect";
import { attachPeerCertificate } from "@cpg/auth/node";
import {
  type DiscoverServiceResponse,
  HealthState,
  PluginLifecycle,
  ReportHealthRequestSchema,
  ServiceDeclarationSchema,
  ServiceDependencySchema,
  ServiceRegistry,
  type WatchServiceEvent,
} from "@cpg/protocol";
import { bearerGuard, registerPluginControlService } from "./control/plugin-control-service.js";
import { registerPluginIdentityService } from "./control/plugin-identity-service.js";
import { createEventStream, type EventStream } from "./events/event-stream.js";
import { createHealthReporter } from "./health/health-reporter.js";
import { registerHealthServices } from "./health/health-services.js";
import {
  createServingStatusRegistry,
  type ServingStatusRegistry,
} from "./health/serving-status.js";
import {
  createHostSession,
  type HostSession,
  type RuntimeCredentials,
} from "./host-link/host-session.js";
import { createHostTransport } from "./host-link/host-transport.js";
import { parseHostUrls } from "./host-link/host-urls.js";
import { PluginError } from "./plugin-error.js";
import { HEALTHY, type PluginHealthReport, sameHealth } from "./plugin-health.js";
import {
  type PluginOptions,
  type ResolvedPluginOptions,
  resolvePluginOptions,
} from "./plugin-options.js";
import { defaultServiceType, type ServiceDeclarationInfo } from "./provided-service.js";
import { createDrain } from "./server/drain.js";
import { sanitizeErrorMetadata } from "./server/error-metadata.js";
import { createNodeConnectAdapter } from "./server/node-connect-adapter.js";
import { listen, type NodeListener, type NodeRequestHandler } from "./server/node-listener.js";
import { handleProbe } from "./server/probes.js";
import { advertisedUrl } from "./services/advertised-url.js";
import { createCapabilityTransport } from "./services/capability-transport.js";
import { createDependencyMonitor } from "./services/dependency-monitor.js";
import { createRoutedTransport } from "./services/routed-transport.js";
import { createServiceRegistrar } from "./services/service-registrar.js";

/** Version of the SDK, sent as `client_metadata.client_version`. */
export const SDK_VERSION = "0.1.0";

/**
 * Why and how a plugin was asked to stop.
 */
export interface ShutdownRequest {
  /** How long the plugin may take, in milliseconds. */
  readonly gracePeriodMs: number;
  /** Why, as given by the host or the signal name. */
  readonly reason: string;
}

/**
 * A cpg plugin: the services it serves, and its link to a host.
 */
export interface Plugin {
  /** The plugin's self_id. */
  readonly selfId: string;
  /** The plugin's version. */
  readonly version: string;
  /** The services it provides, with type, version and path. */
  readonly declarations: readonly ServiceDeclarationInfo[];
  /** Registers the provided services, PluginControl, PluginIdentity and health on a router. */
  routes(router: ConnectRouter): void;
  /** Node request handler for the plugin's services (plus `/healthz`, `/readyz`). */
  readonly handler: NodeRequestHandler;
  /**
   * The interceptors every call served by this plugin goes through (draining,
   * error metadata), for a host that calls the services of an in-process
   * plugin directly (see `routes`).
   */
  readonly interceptors: readonly Interceptor[];
  /** Serves the plugin on one port, HTTP/1.1 and HTTP/2 (TLS when configured). */
  listen(options?: { port?: number; host?: string }): Promise<{ url: string; port: number }>;
  /** Base URL once listening. */
  readonly url: string | undefined;
  /**
   * Joins a host (unmanaged model): handshake, then a health report. Uses
   * `hostUrl` from the options (or `HOST_URL`) when not given.
   *
   * Given several URLs (an array, or comma-separated), they are the
   * replicas of one replicated host: the plugin handshakes with each in
   * order until one completes, and later fails over from replica to replica
   * (see `hostUrl` in {@link PluginOptions}).
   */
  join(hostUrl?: string | readonly string[]): Promise<RuntimeCredentials>;
  /**
   * Joins a host through a given transport (e.g. the host's in-memory
   * transport for in-process plugins). One host: no failover.
   */
  joinWith(
    hostUrl: string,
    createTransport: (interceptors: Interceptor[]) => Transport,
    options?: {
      /**
       * Base URL for calls through the host's router (`plugin.client()`).
       * Default: `hostUrl`.
       */
      routerUrl?: string;
      /**
       * Transports for calls through the host's router, by endpoint URL
       * (`/services/{type}/{provider}`), given the plugin's authenticating
       * interceptors. An in-process host passes one that reaches in-process
       * providers without serializing; where it returns undefined, calls go
       * to `routerUrl` as usual.
       */
      routerTransport?: (endpointUrl: string, interceptors: Interceptor[]) => Transport | undefined;
    },
  ): Promise<RuntimeCredentials>;
  /**
   * The runtime identity, once joined or handed over by the host. Its
   * `hostUrl` is the host replica the plugin uses now.
   */
  readonly credentials: RuntimeCredentials | undefined;
  /**
   * The host's replicas, in order: those the plugin joined, else those it
   * would join (`hostUrl`, `HOST_URL`); empty when none is known.
   */
  readonly hostUrls: readonly string[];
  /** Transport to the host that authenticates every call as this plugin. */
  readonly hostTransport: Transport;
  /** Identity changes (joined, refreshed, recovered after `unauthenticated`). */
  readonly identityChanges: EventStream<{
    current: RuntimeCredentials;
    previous: RuntimeCredentials | undefined;
  }>;
  /** The plugin's current health. */
  readonly health: PluginHealthReport;
  /** Changes the plugin's health and reports it to the host when joined. */
  setHealth(report: Partial<PluginHealthReport> & { state: HealthState }): Promise<void>;
  /**
   * A typed client for another plugin's service, called through the host's
   * router. The provider is discovered on first use (service type from the
   * descriptor unless `type` is given) and again after it goes away.
   */
  client<S extends DescService>(
    service: S,
    options?: { type?: string; minVersion?: string },
  ): Client<S>;
  /**
   * A typed client for a host capability (e.g. the logger). The grant is
   * requested on first use and renewed before it expires; a call refused as
   * `unauthenticated` (revoked grant) gets a new grant and is retried once.
   * `type` defaults to the descriptor's name without `Service`, lower-cased.
   */
  capability<S extends DescService>(
    service: S,
    options?: { type?: string; minVersion?: string; reason?: string },
  ): Client<S>;
  /** Discovers a provider of a service type through the host. */
  discover(serviceType: string, minVersion?: string): Promise<DiscoverServiceResponse>;
  /** Watches a service type through the host: the current state first, then every change. */
  watch(serviceType: string, signal?: AbortSignal): AsyncIterable<WatchServiceEvent>;
  /** Registration ids of the plugin's services on its host, by service type. */
  readonly registrations: ReadonlyMap<string, string>;
  /** Resolves when the host (or a signal) asks the plugin to stop. */
  readonly shutdownRequested: Promise<ShutdownRequest>;
  /** Stops everything: timers, streams, the server (in-flight calls finish within `graceMs`, default 5 s). */
  close(graceMs?: number): Promise<void>;
}

/**
 * Creates a plugin.
 *
 * @example
 * ```ts
 * import { createPlugin, provide } from "@cpg/plugin-sdk";
 * import { KVService } from "./gen/kv_pb.js";
 *
 * const plugin = createPlugin({
 *   selfId: "kv-store",
 *   version: "1.0.0",
 *   services: [provide(KVService, { get: (req) => ({ value: "" }) })],
 * });
 * await plugin.listen({ port: 0 });
 * await plugin.join("http://127.0.0.1:8080");
 * ```
 */
export function createPlugin(options: PluginOptions): Plugin {
  const opts: ResolvedPluginOptions = resolvePluginOptions(options);
  const logger = opts.logger;
  const serving: ServingStatusRegistry = createServingStatusRegistry();
  const drain = createDrain({ message: "plugin is shutting down" });
  // Ends long-lived watch streams at shutdown, after they saw NOT_SERVING.
  const stopWatches = new AbortController();
  // Every open health Watch stream listens to this signal until it ends: many
  // listeners are the normal case, not a leak for Node to warn about.
  setMaxListeners(0, stopWatches.signal);
  const identityChanges = createEventStream<{
    current: RuntimeCredentials;
    previous: RuntimeCredentials | undefined;
  }>((error) => logger.error("identity listener failed", { error }));
  // What the plugin itself says; the reported health also reflects missing dependencies.
  let ownHealth: PluginHealthReport = HEALTHY;
  let health: PluginHealthReport = HEALTHY;
  let session: HostSession | undefined;
  let listener: NodeListener | undefined;
  let closing: Promise<void> | undefined;
  let resolveShutdown!: (request: ShutdownRequest) => void;
  const shutdownRequested = new Promise<ShutdownRequest>((resolve) => {
    resolveShutdown = resolve;
  });

  const guard = bearerGuard(() => {
    const accepted: string[] = [];
    if (opts.launchSecret) accepted.push(opts.launchSecret);
    if (session?.credentials) accepted.push(session.credentials.token);
    return accepted;
  });

  const defaultTransport = (hostUrl: string, interceptors: Interceptor[]) =>
    createHostTransport({
      baseUrl: hostUrl,
      protocol: opts.hostProtocol,
      ...(opts.hostTls ? { tls: opts.hostTls } : {}),
      interceptors,
    });

  const openSession = (
    hostUrls: readonly string[],
    createTransport: (hostUrl: string, interceptors: Interceptor[]) => Transport,
  ): HostSession => {
    session?.close();
    healthReporter.stop();
    const next = createHostSession({
      hostUrls,
      createTransport,
      selfId: opts.selfId,
      selfVersion: opts.version,
      appProtocolVersions: opts.appProtocolVersions,
      magicCookie: opts.magicCookie,
      logger,
      now: opts.now,
      refreshAfter: opts.refreshAfter,
      sdkVersion: SDK_VERSION,
      requires: opts.requires,
    });
    next.changes.subscribe((change) => {
      identityChanges.emit(change);
      // A new runtime id (first join or recovery) starts with nothing on the host.
      if (change.previous?.runtimeId !== change.current.runtimeId) {
        // Services first, then health: a plugin reported HEALTHY can be called.
        void registrar.registerAll().then(healthReporter.report);
        dependencies.start();
      }
      if (!closing) healthReporter.start();
    });
    session = next;
    return next;
  };

  const registrar = createServiceRegistrar({
    session: () => session,
    declarations: opts.declarations,
    baseUrl: () => opts.baseUrl ?? advertisedUrl(listener?.url),
    logger,
  });
  const dependencies = createDependencyMonitor({
    session: () => session,
    required: opts.requires.filter((r) => r.requiredForStartup).map((r) => r.type),
    onChange: () => {
      if (updateHealth()) void healthReporter.report();
    },
    logger,
  });

  // Combines the plugin's own health with missing required services; true when it changed.
  const updateHealth = (): boolean => {
    const missing = dependencies.missing();
    const next: PluginHealthReport =
      ownHealth.state !== HealthState.UNHEALTHY && missing.length > 0
        ? {
            state: HealthState.DEGRADED,
            reason: `waiting for required services: ${missing.join(", ")}`,
            unavailableDependencies: missing,
          }
        : ownHealth;
    if (sameHealth(next, health)) return false;
    health = next;
    serving.set("", health.state === HealthState.UNHEALTHY ? "not_serving" : "serving");
    return true;
  };
  updateHealth();

  // Base URL for calls through the host's router, when it differs from the host URL.
  let routerUrl: string | undefined;
  // Transports through an in-process host's router, when it gives them.
  let routerTransport:
    | ((endpointUrl: string, interceptors: Interceptor[]) => Transport | undefined)
    | undefined;
  const routedTransportFor = (baseUrl: string, interceptors: Interceptor[]) => {
    const http2 = session?.cpgHost === true || baseUrl.startsWith("https:");
    return createHostTransport({
      baseUrl,
      protocol: opts.hostProtocol,
      ...(opts.hostTls ? { tls: opts.hostTls } : {}),
      interceptors,
      ...(http2 ? { httpVersion: "2" as const } : {}),
    });
  };

  const sendHealth = async () => {
    if (!session?.credentials) return;
    const client = createClient(PluginLifecycle, session.transport);
    try {
      await client.reportHealth(
        create(ReportHealthRequestSchema, {
          state: health.state,
          reason: health.reason,
          unavailableDependencies: [...health.unavailableDependencies],
        }),
      );
    } catch (error) {
      logger.warn("could not report health to the host", { error });
    }
  };

  // On changes, and periodically: renews the plugin's registrations on
  // replicated hosts (they are leases).
  const healthReporter = createHealthReporter({
    intervalMs: opts.healthReportIntervalMs,
    send: sendHealth,
    active: () => session?.credentials !== undefined && !closing,
  });

  const routes = (router: ConnectRouter) => {
    for (const provided of opts.services) {
      router.service(provided.service, provided.implementation);
    }
    registerPluginControlService(router, {
      health: () => health,
      shutdown: (gracePeriodMs, reason) => {
        logger.info("shutdown requested", { grace_period_ms: gracePeriodMs, reason });
        resolveShutdown({ gracePeriodMs, reason });
      },
      guard,
    });
    registerPluginIdentityService(router, {
      info: () => ({
        selfId: opts.selfId,
        selfVersion: opts.version,
        provides: opts.declarations.map((d) =>
          create(ServiceDeclarationSchema, { type: d.type, version: d.version, path: d.path }),
        ),
        requires: opts.requires.map((r) => create(ServiceDependencySchema, r)),
        metadata: { ...opts.metadata },
      }),
      guard,
      adopt: (credentials) => {
        if (
          session?.credentials === undefined ||
          !session.replicas.urls.includes(credentials.hostUrl)
        ) {
          openSession([credentials.hostUrl], defaultTransport);
        }
        logger.info("runtime identity assigned by the host", {
          runtime_id: credentials.runtimeId,
          host_url: credentials.hostUrl,
        });
        session!.adopt(credentials);
      },
    });
    registerHealthServices(router, serving, stopWatches.signal);
  };

  const serverInterceptors: Interceptor[] = [drain.interceptor, sanitizeErrorMetadata];
  const adapter = createNodeConnectAdapter({
    routes,
    interceptors: serverInterceptors,
    contextValues(req) {
      const values = createContextValues();
      attachPeerCertificate(values, req);
      return values;
    },
  });
  const handler: NodeRequestHandler = (req, res) => {
    if (handleProbe(req, res, serving)) return;
    adapter(req, res);
  };
  for (const d of opts.declarations) serving.set(d.service.typeName, "serving");
  serving.set("", "serving");

  const connect = async (
    hostUrls: readonly string[],
    createTransport: (hostUrl: string, interceptors: Interceptor[]) => Transport,
    joinOptions: NonNullable<Parameters<Plugin["joinWith"]>[2]>,
  ): Promise<RuntimeCredentials> => {
    if (closing) throw new PluginError("closed", "the plugin has been closed");
    routerUrl = joinOptions.routerUrl?.replace(/\/$/, "");
    routerTransport = joinOptions.routerTransport;
    const s = openSession(hostUrls, createTransport);
    const credentials = await s.connect();
    logger.info("joined host", {
      host_url: credentials.hostUrl,
      runtime_id: credentials.runtimeId,
      ...(hostUrls.length > 1 ? { host_urls: hostUrls } : {}),
    });
    return credentials;
  };

  const plugin: Plugin = {
    selfId: opts.selfId,
    version: opts.version,
    declarations: opts.declarations,
    routes,
    handler,
    interceptors: serverInterceptors,
    async listen(listenOptions = {}) {
      if (closing) throw new PluginError("closed", "the plugin has been closed");
      if (listener)
        throw new PluginError("invalid_config", `the plugin already listens on ${listener.url}`);
      listener = await listen(handler, {
        host: listenOptions.host ?? "127.0.0.1",
        port: listenOptions.port ?? 0,
        ...(opts.tls ? { tls: opts.tls } : {}),
      });
      logger.info("plugin listening", { url: listener.url });
      return { url: listener.url, port: listener.port };
    },
    get url() {
      return listener?.url;
    },
    async join(hostUrl) {
      const urls = hostUrl === undefined ? opts.hostUrls : parseHostUrls(hostUrl, "join()");
      if (urls.length === 0) {
        throw new PluginError(
          "invalid_config",
          "no host to join: pass a URL to join(), set hostUrl, or set HOST_URL",
        );
      }
      return connect(urls, defaultTransport, {});
    },
    joinWith(hostUrl, createTransport, joinOptions = {}) {
      return connect([hostUrl], (_url, interceptors) => createTransport(interceptors), joinOptions);
    },
    get credentials() {
      return session?.credentials;
    },
    get hostUrls() {
      return session?.replicas.urls ?? opts.hostUrls;
    },
    get hostTransport() {
      if (!session) {
        throw new PluginError("not_joined", "the plugin has not joined a host yet");
      }
      return session.transport;
    },
    identityChanges,
    get health() {
      return health;
    },
    async setHealth(next) {
      ownHealth = {
        state: next.state,
        reason: next.reason ?? "",
        unavailableDependencies: next.unavailableDependencies ?? [],
      };
      if (updateHealth()) await healthReporter.report();
    },
    client(service, clientOptions = {}) {
      return createClient(
        service,
        createRoutedTransport({
          session: () => session,
          serviceType: clientOptions.type ?? defaultServiceType(service),
          minVersion: clientOptions.minVersion ?? "",
          transportFor: routedTransportFor,
          routerUrl: () => routerUrl,
          endpointTransport: () => routerTransport,
        }),
      );
    },
    capability(service, capabilityOptions = {}) {
      return createClient(
        service,
        createCapabilityTransport({
          session: () => session,
          capabilityType: capabilityOptions.type ?? defaultServiceType(service),
          minVersion: capabilityOptions.minVersion ?? "",
          reason: capabilityOptions.reason ?? `${opts.selfId} uses it`,
          now: opts.now,
          baseUrl: () => routerUrl,
          transportFor: routedTransportFor,
        }),
      );
    },
    discover(serviceType, minVersion = "") {
      return createClient(ServiceRegistry, plugin.hostTransport).discoverService({
        serviceType,
        minVersion,
      });
    },
    watch(serviceType, signal) {
      return createClient(ServiceRegistry, plugin.hostTransport).watchService(
        { serviceType },
        signal ? { signal } : {},
      );
    },
    get registrations() {
      return registrar.registrations;
    },
    shutdownRequested,
    close(graceMs = 5000) {
      closing ??= (async () => {
        serving.setAll("not_serving");
        dependencies.stop();
        healthReporter.stop();
        await registrar.unregisterAll();
        drain.start();
        stopWatches.abort();
        await listener?.stopAccepting();
        await drain.wait(graceMs);
        session?.close();
        await listener?.close(1000);
      })();
      return closing;
    },
  };
  return plugin;
}
