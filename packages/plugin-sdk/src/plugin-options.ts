import { DEFAULT_APP_PROTOCOL_VERSION, MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE } from "@cpg/protocol";
import {
  isValidationError,
  validateMetadata,
  validateSelfId,
  validateServiceType,
  validateVersion,
} from "@cpg/validation";
import type { ClientTlsOptions, HostProtocol } from "./host-link/host-transport.js";
import { parseHostUrls } from "./host-link/host-urls.js";
import { createJsonLogger, type Logger } from "./logging/logger.js";
import { PluginError } from "./plugin-error.js";
import {
  describeProvidedService,
  type ProvidedService,
  type ServiceDeclarationInfo,
} from "./provided-service.js";
import type { ListenerTlsOptions } from "./server/node-listener.js";

/**
 * A service a plugin needs from other plugins.
 */
export interface RequiredService {
  /** Service type, e.g. `"kv"`. */
  readonly type: string;
  /** Lowest acceptable semantic version. Default: any. */
  readonly minVersion?: string;
  /** The plugin cannot work without it. Default: `true`. */
  readonly requiredForStartup?: boolean;
  /** Watch providers of this service for changes. Default: `true`. */
  readonly watchForChanges?: boolean;
}

/**
 * Options of {@link createPlugin}.
 */
export interface PluginOptions {
  /** Stable identifier of the plugin: a letter, then letters, digits, `_`, `.`, `-`. */
  readonly selfId: string;
  /** Semantic version of the plugin, e.g. `"1.2.0"`. */
  readonly version: string;
  /** Services the plugin provides. Default: none. */
  readonly services?: readonly ProvidedService[];
  /** Services the plugin needs. Default: none. */
  readonly requires?: readonly RequiredService[];
  /** Metadata reported by `GetPluginInfo`. Default: none. */
  readonly metadata?: Readonly<Record<string, string>>;
  /**
   * URL other plugins reach this plugin at, sent as `base_url` when its
   * services are registered. Default: the URL it listens on, with the
   * `HOSTNAME` environment variable (else `localhost`) standing in for a
   * wildcard address such as `0.0.0.0`.
   */
  readonly baseUrl?: string;
  /**
   * Host to join when `join()` is called without a URL: one base URL, or the
   * base URLs of the replicas of a replicated host (an array, or a string
   * of comma-separated URLs). The plugin joins the first replica that
   * completes the handshake and fails over to the next one, round-robin,
   * when the one it uses cannot be reached or answers `unavailable`, keeping
   * its runtime identity (replicas share it). Each URL must be an absolute
   * `http://` or `https://` URL; spaces around entries, empty entries and a
   * trailing `/` are ignored. Default: `HOST_URL` from the environment
   * (which may also list several comma-separated URLs).
   */
  readonly hostUrl?: string | readonly string[];
  /** Protocol for calls to the host. Default: `"connect"` (Go-compatible). */
  readonly hostProtocol?: HostProtocol;
  /** TLS for calls to the host (CA, and client certificate for mTLS). Default: Node's roots, no client certificate. */
  readonly hostTls?: ClientTlsOptions;
  /** TLS for the plugin's own server. Default: plaintext. */
  readonly tls?: ListenerTlsOptions;
  /** Application protocol versions the plugin speaks. Default: `[1]`. */
  readonly appProtocolVersions?: readonly number[];
  /** Magic cookie. Default: connect-plugin-go's. */
  readonly magicCookie?: { readonly key: string; readonly value: string };
  /**
   * Secret a launching host must present (as bearer) to hand over an
   * identity or stop the plugin. Default: `CPG_LAUNCH_SECRET` from the
   * environment, else none (any caller may hand over the first identity, as
   * with connect-plugin-go hosts; later ones need the current runtime token).
   */
  readonly launchSecret?: string;
  /** Fraction of the token lifetime after which it is refreshed. Default: 0.8. */
  readonly refreshAfter?: number;
  /**
   * While joined, the plugin re-sends its current health to the host
   * (`PluginLifecycle.ReportHealth`) every this many milliseconds, besides
   * reporting each change at once. On a replicated cpg host, registrations
   * are leases that these reports renew: keep the interval well under the
   * host's lease (30 s by default), e.g. a third of it. `0` turns periodic
   * reports off (for hosts without leases). Default: `10000`.
   */
  readonly healthReportIntervalMs?: number;
  /** Structured logger. Default: JSON lines on stderr at level `info`. */
  readonly logger?: Logger;
  /** Clock, Unix milliseconds. Default: `Date.now`. */
  readonly now?: () => number;
}

/**
 * {@link PluginOptions} with defaults applied.
 * @private
 */
export interface ResolvedPluginOptions {
  readonly selfId: string;
  readonly version: string;
  readonly services: readonly ProvidedService[];
  readonly declarations: readonly ServiceDeclarationInfo[];
  readonly requires: readonly Required<RequiredService>[];
  readonly metadata: Readonly<Record<string, string>>;
  /** The first of `hostUrls`. */
  readonly hostUrl: string | undefined;
  /** Host replicas to join; empty when none is configured. */
  readonly hostUrls: readonly string[];
  readonly baseUrl: string | undefined;
  readonly hostProtocol: HostProtocol;
  readonly hostTls: ClientTlsOptions | undefined;
  readonly tls: ListenerTlsOptions | undefined;
  readonly appProtocolVersions: readonly number[];
  readonly magicCookie: { readonly key: string; readonly value: string };
  readonly launchSecret: string | undefined;
  readonly refreshAfter: number;
  readonly healthReportIntervalMs: number;
  readonly logger: Logger;
  readonly now: () => number;
}

/** Longest delay Node.js timers accept, in milliseconds. */
const MAX_TIMER_MS = 2 ** 31 - 1;

function check(what: string, fn: () => void): void {
  try {
    fn();
  } catch (error) {
    if (isValidationError(error)) {
      throw new PluginError("invalid_config", `${what}: ${error.message}`, { cause: error });
    }
    throw error;
  }
}

/**
 * Applies defaults and checks {@link PluginOptions} with the same rules the
 * host enforces, so mistakes show up at start instead of at registration.
 * @private
 */
export function resolvePluginOptions(options: PluginOptions): ResolvedPluginOptions {
  check("selfId", () => validateSelfId(options.selfId));
  check("version", () => validateVersion(options.version));
  const services = options.services ?? [];
  const declarations = services.map((s) => describeProvidedService(s, options.version));
  const seen = new Set<string>();
  for (const d of declarations) {
    check(`service ${d.service.typeName}`, () => validateServiceType(d.type));
    check(`service ${d.service.typeName}`, () => validateVersion(d.version));
    if (seen.has(d.service.typeName)) {
      throw new PluginError("invalid_config", `service ${d.service.typeName} is provided twice`);
    }
    seen.add(d.service.typeName);
  }
  const requires = (options.requires ?? []).map((r) => {
    check(`requires ${r.type}`, () => validateServiceType(r.type));
    if (r.minVersion) check(`requires ${r.type}`, () => validateVersion(r.minVersion!));
    return {
      type: r.type,
      minVersion: r.minVersion ?? "",
      requiredForStartup: r.requiredForStartup ?? true,
      watchForChanges: r.watchForChanges ?? true,
    };
  });
  const metadata = { ...(options.metadata ?? {}) };
  check("metadata", () => validateMetadata(metadata));
  const refreshAfter = options.refreshAfter ?? 0.8;
  if (!(refreshAfter > 0 && refreshAfter < 1)) {
    throw new PluginError(
      "invalid_config",
      `refreshAfter must be between 0 and 1, got ${refreshAfter}`,
    );
  }
  const versions = options.appProtocolVersions ?? [DEFAULT_APP_PROTOCOL_VERSION];
  if (versions.length === 0 || versions.some((v) => !Number.isInteger(v) || v <= 0)) {
    throw new PluginError(
      "invalid_config",
      `appProtocolVersions must be a non-empty list of positive integers, got [${versions.join(", ")}]`,
    );
  }
  const hostUrls =
    options.hostUrl !== undefined
      ? parseHostUrls(options.hostUrl, "hostUrl")
      : parseHostUrls(process.env.HOST_URL, "HOST_URL");
  const healthReportIntervalMs = options.healthReportIntervalMs ?? 10_000;
  if (
    !Number.isInteger(healthReportIntervalMs) ||
    healthReportIntervalMs < 0 ||
    healthReportIntervalMs > MAX_TIMER_MS
  ) {
    throw new PluginError(
      "invalid_config",
      `healthReportIntervalMs must be an integer from 0 (no periodic reports) to ${MAX_TIMER_MS}, got ${healthReportIntervalMs}`,
    );
  }
  return {
    selfId: options.selfId,
    version: options.version,
    services,
    declarations,
    requires,
    metadata,
    hostUrl: hostUrls[0],
    hostUrls,
    baseUrl: options.baseUrl?.replace(/\/$/, ""),
    hostProtocol: options.hostProtocol ?? "connect",
    hostTls: options.hostTls,
    tls: options.tls,
    appProtocolVersions: [...versions],
    magicCookie: options.magicCookie ?? { key: MAGIC_COOKIE_KEY, value: MAGIC_COOKIE_VALUE },
    launchSecret: options.launchSecret ?? (process.env.CPG_LAUNCH_SECRET || undefined),
    refreshAfter,
    healthReportIntervalMs,
    logger: options.logger ?? createJsonLogger({ base: { plugin: options.selfId } }),
    now: options.now ?? Date.now,
  };
}
