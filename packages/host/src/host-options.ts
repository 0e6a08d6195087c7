import { eventLoopNow } from "@cpg/auth";
import { createJsonLogger, type Logger } from "@cpg/plugin-sdk";
import type { ListenerTlsOptions, NodeRequestHandler } from "@cpg/plugin-sdk/internal";
import { DEFAULT_APP_PROTOCOL_VERSION, MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE } from "@cpg/protocol";
import type { Registry } from "prom-client";
import type { AdminAccess } from "./admin/operator-authenticator.js";
import type { AuditSink } from "./audit/audit-sink.js";
import {
  type HostStoreOption,
  type ResolvedRedisStoreOptions,
  resolveStoreOption,
} from "./cluster/store-options.js";
import { HostError } from "./host-error.js";
import type { HostTracer } from "./observability/host-tracer.js";
import type { PlatformOptions } from "./platform/platform.js";
import type { AllowLists } from "./policy/allow-list-policy.js";
import type { SelectionStrategy } from "./registry/selection-strategy.js";
import {
  isSecurityProfile,
  PROFILE_DEFAULTS,
  type SecurityProfile,
} from "./security/security-profile.js";

/**
 * A rate limit: `rate` calls per second with bursts up to `burst`.
 */
export interface RateLimitSetting {
  /** Sustained calls per second. */
  readonly rate: number;
  /** Calls allowed at once after a quiet period. */
  readonly burst: number;
}

/**
 * Rate limits of the host, per caller (the runtime identity when
 * authenticated, else the client IP without port).
 */
export interface HostRateLimits {
  /** Handshakes. Default: 5/s, burst 20. */
  readonly handshake?: RateLimitSetting;
  /** Every other host API call (registry, lifecycle, broker). Default: 100/s, burst 200. */
  readonly api?: RateLimitSetting;
  /** Concurrent streams (WatchService, health Watch) per caller. Default: 64. */
  readonly maxConcurrentStreams?: number;
}

/**
 * Authorization policies, as allow-lists keyed by runtime id or self_id (see
 * {@link AllowLists}). A plugin not named gets the profile's default:
 * everything under `development`, nothing under `production` (except that a
 * plugin may always call the service types it declared in `requires`).
 */
export interface HostPolicies {
  /** Service types each plugin may register. */
  readonly registration?: AllowLists;
  /** Service types each plugin may discover and watch. */
  readonly discovery?: AllowLists;
  /** Service types each plugin may call through the router (besides its `requires`). */
  readonly callers?: AllowLists;
  /** Capability types each plugin may request from the broker. */
  readonly capabilities?: AllowLists;
}

/**
 * Router settings.
 */
export interface HostRouterOptions {
  /** Longest deadline a caller may set; longer ones are cut. Default: 5 minutes. */
  readonly maxTimeoutMs?: number;
  /** Consecutive transport failures that take a provider out until it reports HEALTHY. Default: 5. */
  readonly outlierThreshold?: number;
  /** Calls per second through the router per caller. Default: 1,000/s, burst 2,000. */
  readonly rateLimit?: RateLimitSetting;
}

/**
 * Prometheus metrics of the host, served at `GET /metrics` on the host's port.
 */
export interface HostMetricsSettings {
  /** Collect metrics and serve `/metrics`. Default: `true`. */
  readonly enabled?: boolean;
  /**
   * Serve `/metrics` without credentials. Default: `false`: only with an
   * admin API key (`X-API-Key`, role `viewer` or `operator`, see
   * {@link HostOptions.admin}) or an operator's client certificate; else 401.
   */
  readonly public?: boolean;
  /** Registry of the metrics. Default: a new registry of this host's own. */
  readonly registry?: Registry;
  /** Prefix of every metric name. Default: `"cpg_"`. */
  readonly prefix?: string;
}

/**
 * Options of {@link createHost}. Every option has a default; the security
 * profile decides the defaults that matter for security.
 */
export interface HostOptions {
  /** Security profile. Default: `"development"`. */
  readonly profile?: SecurityProfile;
  /**
   * Accept plaintext under the `production` profile. Default: `false`.
   * Never needed under `development`.
   */
  readonly allowInsecure?: boolean;
  /** Version reported in `server_metadata.server_version`. Default: this package's version. */
  readonly serverVersion?: string;
  /** Application protocol versions the host supports. Default: `[1]`. */
  readonly appProtocolVersions?: readonly number[];
  /** Magic cookie. Default: connect-plugin-go's key and value. */
  readonly magicCookie?: { readonly key: string; readonly value: string };
  /**
   * Handshake replay protection. `requireNonce`: refuse handshakes without
   * nonce and timestamp (connect-plugin-go sends neither). Defaults: a 5-minute
   * window, 100,000 remembered nonces, `requireNonce` true under `production`.
   */
  readonly handshake?: {
    readonly replayWindowMs?: number;
    readonly maxNonces?: number;
    readonly requireNonce?: boolean;
  };
  /** Lifetime of runtime tokens. Default: 24 hours. */
  readonly runtimeTokenTtlMs?: number;
  /** Most runtime identities alive at once. Default: 10,000. */
  readonly maxRuntimes?: number;
  /** Rate limits; `false` turns them off (development only). Default: see {@link HostRateLimits}. */
  readonly rateLimits?: HostRateLimits | false;
  /** Largest request message accepted, in bytes. Default: 4 MiB. */
  readonly readMaxBytes?: number;
  /** How long `close()` waits for in-flight calls before cutting them. Default: 10 s. */
  readonly shutdownTimeoutMs?: number;
  /** TLS for `listen()`. Default: none (plaintext, with a warning). */
  readonly tls?: ListenerTlsOptions;
  /**
   * Public base URL of the host, used in grant endpoint URLs and handed to
   * managed plugins. Default: the URL `listen()` binds.
   */
  readonly publicUrl?: string;
  /**
   * Where the host keeps its state. `"memory"` (the default): in this
   * process only. A Redis URL (`redis://host:6379`, `rediss://` for TLS) or
   * {@link RedisStoreOptions}: several host replicas share identities,
   * registrations (as leases), health, grants, handshake nonces and rate
   * limits through it; see docs/scaling.md.
   */
  readonly store?: HostStoreOption;
  /** Authorization policies. Default: by profile, see {@link HostPolicies}. */
  readonly policies?: HostPolicies;
  /**
   * Hosts (names, IPs or CIDRs) that registered `base_url`s may point to.
   * Default: any under `development`; loopback only (`127.0.0.0/8`, `::1`,
   * `localhost`) under `production`.
   */
  readonly upstreamAllowList?: readonly string[];
  /** Return registrations' `base_url` to discoverers. Default: `false`. */
  readonly exposeBaseUrl?: boolean;
  /** How discovery picks among providers. Default: `"round-robin"`. */
  readonly selectionStrategy?: SelectionStrategy;
  /** Most registrations per runtime. Default: 100. */
  readonly maxRegistrationsPerRuntime?: number;
  /** Most registrations on the host. Default: 10,000. */
  readonly maxRegistrations?: number;
  /** Router settings. */
  readonly router?: HostRouterOptions;
  /** Lifetime of capability grants. Default: 1 hour. */
  readonly grantTtlMs?: number;
  /** Most capability grants alive at once. Default: 10,000. */
  readonly maxGrants?: number;
  /** Offer the built-in `logger` and `store` capabilities. Default: `true`. */
  readonly builtInCapabilities?: boolean;
  /**
   * Serves requests no host route matches (for example a web UI next to the
   * host). Default: 404.
   */
  readonly fallback?: NodeRequestHandler;
  /** Who may use the admin API (operators). Default: nobody. */
  readonly admin?: AdminAccess;
  /** Supervision of managed plugins. */
  readonly platform?: PlatformOptions;
  /** Where audit events go. Default: the logger, at level `info`, message `audit`. */
  readonly audit?: AuditSink;
  /** Prometheus metrics and `/metrics`. Default: enabled, not public; see {@link HostMetricsSettings}. */
  readonly metrics?: HostMetricsSettings;
  /**
   * Tracing hook called for every routed call and every host API call; the
   * router forwards the span's `traceparent` to providers. Default: none
   * (callers' `traceparent`/`tracestate` headers still reach providers
   * unchanged). See {@link HostTracer}.
   */
  readonly tracer?: HostTracer;
  /** Structured logger. Default: JSON lines on stderr at level `info`. */
  readonly logger?: Logger;
  /**
   * Clock, Unix milliseconds. Default: `eventLoopNow` from `@cpg/auth`
   * (`Date.now()` read once per synchronous run of JavaScript).
   */
  readonly now?: () => number;
}

/**
 * {@link HostOptions} with every default applied.
 * @private
 */
export interface ResolvedHostOptions {
  readonly profile: SecurityProfile;
  readonly allowInsecure: boolean;
  readonly serverVersion: string;
  readonly appProtocolVersions: readonly number[];
  readonly magicCookie: { readonly key: string; readonly value: string };
  readonly handshake: {
    readonly replayWindowMs: number;
    readonly maxNonces: number;
    readonly requireNonce: boolean;
  };
  readonly runtimeTokenTtlMs: number;
  readonly maxRuntimes: number;
  readonly rateLimits: Required<HostRateLimits> | false;
  readonly readMaxBytes: number;
  readonly shutdownTimeoutMs: number;
  readonly tls: ListenerTlsOptions | undefined;
  readonly publicUrl: string | undefined;
  readonly store: ResolvedRedisStoreOptions | undefined;
  readonly policies: HostPolicies;
  readonly upstreamAllowList: readonly string[] | undefined;
  readonly exposeBaseUrl: boolean;
  readonly selectionStrategy: SelectionStrategy;
  readonly maxRegistrationsPerRuntime: number;
  readonly maxRegistrations: number;
  readonly router: Required<HostRouterOptions>;
  readonly grantTtlMs: number;
  readonly maxGrants: number;
  readonly builtInCapabilities: boolean;
  readonly platform: PlatformOptions;
  readonly admin: AdminAccess;
  readonly fallback: NodeRequestHandler | undefined;
  readonly audit: AuditSink | undefined;
  readonly metrics: {
    readonly enabled: boolean;
    readonly public: boolean;
    readonly registry: Registry | undefined;
    readonly prefix: string;
  };
  readonly tracer: HostTracer | undefined;
  readonly logger: Logger;
  readonly now: () => number;
}

/** Version of this package, reported as `server_version`. */
export const HOST_VERSION = "0.1.0";

const positive = (name: string, value: number | undefined, fallback: number): number => {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value <= 0) {
    throw new HostError("invalid_config", `${name} must be a positive number, got ${value}`);
  }
  return value;
};

const rateSetting = (
  name: string,
  value: RateLimitSetting | undefined,
  fallback: RateLimitSetting,
) => {
  if (value === undefined) return fallback;
  return {
    rate: positive(`${name}.rate`, value.rate, 1),
    burst: positive(`${name}.burst`, value.burst, 1),
  };
};

const strategies: readonly SelectionStrategy[] = ["first", "round-robin", "random", "weighted"];
const strategy = (value: SelectionStrategy | undefined): SelectionStrategy => {
  if (value === undefined) return "round-robin";
  if (!strategies.includes(value)) {
    throw new HostError(
      "invalid_config",
      `unknown selectionStrategy ${JSON.stringify(value)}: use first, round-robin, random or weighted`,
    );
  }
  return value;
};

/**
 * Applies defaults and checks {@link HostOptions}; throws a `HostError` with
 * code `invalid_config` that says what to change.
 * @private
 */
export function resolveHostOptions(options: HostOptions = {}): ResolvedHostOptions {
  const profile = options.profile ?? "development";
  if (!isSecurityProfile(profile)) {
    throw new HostError(
      "invalid_config",
      `unknown profile ${JSON.stringify(profile)}: use "development" or "production"`,
    );
  }
  const versions = options.appProtocolVersions ?? [DEFAULT_APP_PROTOCOL_VERSION];
  if (versions.length === 0 || versions.some((v) => !Number.isInteger(v) || v <= 0)) {
    throw new HostError(
      "invalid_config",
      `appProtocolVersions must be a non-empty list of positive integers, got [${versions.join(", ")}]`,
    );
  }
  const cookie = options.magicCookie ?? { key: MAGIC_COOKIE_KEY, value: MAGIC_COOKIE_VALUE };
  if (cookie.key === "" || cookie.value === "") {
    throw new HostError("invalid_config", "magicCookie key and value must not be empty");
  }
  let rateLimits: Required<HostRateLimits> | false;
  if (options.rateLimits === false) {
    if (profile === "production") {
      throw new HostError(
        "insecure_config",
        'rate limits cannot be turned off under the "production" profile; set budgets instead',
      );
    }
    rateLimits = false;
  } else {
    const r = options.rateLimits ?? {};
    rateLimits = {
      handshake: rateSetting("rateLimits.handshake", r.handshake, { rate: 5, burst: 20 }),
      api: rateSetting("rateLimits.api", r.api, { rate: 100, burst: 200 }),
      maxConcurrentStreams: positive("rateLimits.maxConcurrentStreams", r.maxConcurrentStreams, 64),
    };
  }
  if (options.publicUrl !== undefined && !/^https?:\/\/[^/?#]+\/?$/.test(options.publicUrl)) {
    throw new HostError(
      "invalid_config",
      `publicUrl must be an http(s) origin such as https://host.example:8443, got ${JSON.stringify(options.publicUrl)}`,
    );
  }
  const now = options.now ?? eventLoopNow;
  return {
    profile,
    allowInsecure: options.allowInsecure ?? false,
    serverVersion: options.serverVersion ?? HOST_VERSION,
    appProtocolVersions: [...new Set(versions)].sort((a, b) => a - b),
    magicCookie: { key: cookie.key, value: cookie.value },
    handshake: {
      replayWindowMs: positive(
        "handshake.replayWindowMs",
        options.handshake?.replayWindowMs,
        5 * 60 * 1000,
      ),
      maxNonces: positive("handshake.maxNonces", options.handshake?.maxNonces, 100_000),
      requireNonce: options.handshake?.requireNonce ?? profile === "production",
    },
    runtimeTokenTtlMs: positive(
      "runtimeTokenTtlMs",
      options.runtimeTokenTtlMs,
      24 * 60 * 60 * 1000,
    ),
    maxRuntimes: positive("maxRuntimes", options.maxRuntimes, 10_000),
    rateLimits,
    readMaxBytes: positive("readMaxBytes", options.readMaxBytes, 4 * 1024 * 1024),
    shutdownTimeoutMs: positive("shutdownTimeoutMs", options.shutdownTimeoutMs, 10_000),
    tls: options.tls,
    publicUrl: options.publicUrl?.replace(/\/$/, ""),
    store: resolveStoreOption(options.store),
    policies: { ...(options.policies ?? {}) },
    upstreamAllowList:
      options.upstreamAllowList ??
      (profile === "production" ? ["127.0.0.0/8", "::1", "localhost"] : undefined),
    exposeBaseUrl: options.exposeBaseUrl ?? false,
    selectionStrategy: strategy(options.selectionStrategy),
    maxRegistrationsPerRuntime: positive(
      "maxRegistrationsPerRuntime",
      options.maxRegistrationsPerRuntime,
      100,
    ),
    maxRegistrations: positive("maxRegistrations", options.maxRegistrations, 10_000),
    router: {
      maxTimeoutMs: positive("router.maxTimeoutMs", options.router?.maxTimeoutMs, 5 * 60 * 1000),
      outlierThreshold: positive("router.outlierThreshold", options.router?.outlierThreshold, 5),
      rateLimit: rateSetting("router.rateLimit", options.router?.rateLimit, {
        rate: 1000,
        burst: 2000,
      }),
    },
    grantTtlMs: positive("grantTtlMs", options.grantTtlMs, 60 * 60 * 1000),
    maxGrants: positive("maxGrants", options.maxGrants, 10_000),
    builtInCapabilities: options.builtInCapabilities ?? true,
    platform: { ...(options.platform ?? {}) },
    admin: { ...(options.admin ?? {}) },
    fallback: options.fallback,
    audit: options.audit,
    metrics: {
      enabled: options.metrics?.enabled ?? true,
      public: options.metrics?.public ?? false,
      registry: options.metrics?.registry,
      prefix: options.metrics?.prefix ?? "cpg_",
    },
    tracer: options.tracer,
    logger: options.logger ?? createJsonLogger({ base: { component: "cpg-host" } }),
    now,
  };
}

/**
 * Whether the profile's TLS rule refuses a plaintext listener.
 * @private
 */
export function plaintextRefused(options: ResolvedHostOptions): boolean {
  return PROFILE_DEFAULTS[options.profile].requireTls && !options.allowInsecure && !options.tls;
}
