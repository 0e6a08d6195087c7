import { randomBytes } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  createClient,
  type Interceptor,
  type Transport,
} from "@connectrpc/connect";
import { constantTimeEqual } from "@cpg/auth";
import { negotiationMac } from "@cpg/auth/node";
import {
  AUTHORIZATION_HEADER,
  bearer,
  CLIENT_VERSION_METADATA_KEY,
  CORE_PROTOCOL_VERSION,
  type HandshakeRequest,
  HandshakeRequestSchema,
  type HandshakeResponse,
  HandshakeService,
  RUNTIME_ID_HEADER,
} from "@cpg/protocol";
import { createEventStream, type EventStream } from "../events/event-stream.js";
import type { Logger } from "../logging/logger.js";
import { isPluginError, PluginError } from "../plugin-error.js";
import { isConnectionFailure } from "./connection-failure.js";
import { createFailoverTransport } from "./failover-transport.js";
import { createHostReplicas, type HostReplicas } from "./host-replicas.js";

/**
 * The runtime identity a plugin holds on a host.
 */
export interface RuntimeCredentials {
  /** Runtime id assigned by the host. */
  readonly runtimeId: string;
  /** Bearer token proving it. */
  readonly token: string;
  /** Expiry, Unix milliseconds; 0 when the host did not say (Go hosts). */
  readonly expiresAt: number;
  /**
   * Base URL of the host; with several replicas, the one the plugin uses
   * now (it changes when the plugin fails over to another replica).
   */
  readonly hostUrl: string;
}

/**
 * Options of {@link createHostSession}.
 * @private
 */
export interface HostSessionOptions {
  /** Base URLs of the host's replicas (one for a host that is not replicated). */
  readonly hostUrls: readonly string[];
  /** Creates a transport to one replica of the host with the given interceptors. */
  readonly createTransport: (hostUrl: string, interceptors: Interceptor[]) => Transport;
  readonly selfId: string;
  readonly selfVersion: string;
  readonly appProtocolVersions: readonly number[];
  readonly magicCookie: { readonly key: string; readonly value: string };
  readonly logger: Logger;
  readonly now: () => number;
  /** Fraction of a token's lifetime after which it is refreshed. */
  readonly refreshAfter: number;
  readonly sdkVersion: string;
  /** Services the plugin needs, sent in the handshake (cpg extension). */
  readonly requires: ReadonlyArray<{
    type: string;
    minVersion: string;
    requiredForStartup: boolean;
    watchForChanges: boolean;
  }>;
}

/**
 * A plugin's authenticated link to its host: the handshake, the runtime
 * identity, its refresh before expiry, and recovery by a new handshake when
 * the host answers `unauthenticated`.
 * @private
 */
export interface HostSession {
  /** Current identity, or `undefined` before joining. */
  readonly credentials: RuntimeCredentials | undefined;
  /** The last handshake response. */
  readonly handshakeResponse: HandshakeResponse | undefined;
  /** Interceptor that authenticates a call as this runtime (and recovers once from `unauthenticated`). */
  readonly authenticate: Interceptor;
  /** Whether the host is a cpg host (it answered with cpg handshake extensions). */
  readonly cpgHost: boolean;
  /** The host's replicas and the one in use. */
  readonly replicas: HostReplicas;
  /**
   * Transport to the host that authenticates every call as this runtime. It
   * goes to the current replica and fails over to the next one when the
   * replica cannot be reached or answers `unavailable`.
   */
  readonly transport: Transport;
  /**
   * Handshakes for a new identity, with each replica in order until one
   * completes the handshake; that one becomes the current replica.
   */
  connect(): Promise<RuntimeCredentials>;
  /**
   * Uses an identity handed over by the host (managed model); its `hostUrl`
   * becomes the current replica when it is one of them.
   */
  adopt(credentials: RuntimeCredentials): void;
  /** Rotates the token of the current identity (same runtime id). */
  refresh(): Promise<RuntimeCredentials>;
  /** Identity changes: new identity, refreshed token, or recovery. */
  readonly changes: EventStream<{
    current: RuntimeCredentials;
    previous: RuntimeCredentials | undefined;
  }>;
  /** Stops the refresh timer. */
  close(): void;
}

/**
 * Checks what a cpg host answered to the handshake: the negotiated version
 * must be the highest one both sides support (a lower one means a downgrade
 * in transit), and the negotiation MAC must match. Go hosts send neither
 * list nor MAC, so there is nothing to check.
 */
function verifyNegotiation(
  request: HandshakeRequest,
  response: HandshakeResponse,
  hostUrl: string,
): void {
  if (response.supportedAppProtocolVersions.length > 0) {
    const common = request.appProtocolVersions.filter((v) =>
      response.supportedAppProtocolVersions.includes(v),
    );
    const best = Math.max(...common);
    if (common.length > 0 && response.appProtocolVersion !== best) {
      throw new PluginError(
        "join_failed",
        `protocol downgrade detected: ${hostUrl} answered app protocol version ${response.appProtocolVersion}, but both sides support ${best}`,
      );
    }
  }
  if (response.negotiationMac !== "") {
    const expected = negotiationMac({
      runtimeToken: response.runtimeToken,
      coreProtocolVersion: response.coreProtocolVersion,
      appProtocolVersion: response.appProtocolVersion,
      supportedAppProtocolVersions: response.supportedAppProtocolVersions,
      nonce: request.nonce,
      runtimeId: response.runtimeId,
    });
    if (!constantTimeEqual(response.negotiationMac, expected)) {
      throw new PluginError(
        "join_failed",
        `the handshake answer of ${hostUrl} failed its integrity check (negotiation MAC): it was altered in transit`,
      );
    }
  }
}

/**
 * Whether a call to one of the host's own services (not a routed or
 * capability call, whose `unavailable` may come from a provider) found the
 * replica unusable: unreachable, or answering `unavailable` (shutting down,
 * or a replica that lost its shared state store).
 */
function isHostUnavailable(error: unknown): boolean {
  return ConnectError.from(error).code === Code.Unavailable || isConnectionFailure(error);
}

/**
 * Creates a {@link HostSession}.
 * @private
 */
export function createHostSession(options: HostSessionOptions): HostSession {
  let credentials: RuntimeCredentials | undefined;
  let lastResponse: HandshakeResponse | undefined;
  let refreshTimer: NodeJS.Timeout | undefined;
  let recovering: Promise<RuntimeCredentials> | undefined;
  let closed = false;
  const changes = createEventStream<{
    current: RuntimeCredentials;
    previous: RuntimeCredentials | undefined;
  }>((error) => options.logger.error("identity listener failed", { error }));

  const replicas = createHostReplicas({
    urls: options.hostUrls,
    onFailover(from, to) {
      options.logger.warn("host replica unreachable; failing over", { from, to });
      // Same identity on the next replica: the replicas share it.
      if (credentials !== undefined) credentials = { ...credentials, hostUrl: to };
    },
  });
  const handshakeTransports = new Map<string, Transport>();
  const handshakeClient = (url: string) => {
    let transport = handshakeTransports.get(url);
    if (transport === undefined) {
      transport = options.createTransport(url, []);
      handshakeTransports.set(url, transport);
    }
    return createClient(HandshakeService, transport);
  };

  const set = (next: RuntimeCredentials) => {
    const previous = credentials;
    credentials = next;
    schedule();
    changes.emit({ current: next, previous });
  };

  const schedule = () => {
    clearTimeout(refreshTimer);
    refreshTimer = undefined;
    if (closed || credentials === undefined || credentials.expiresAt === 0) return;
    const remaining = credentials.expiresAt - options.now();
    const delay = Math.max(0, Math.floor(remaining * options.refreshAfter));
    refreshTimer = setTimeout(
      () => {
        session.refresh().catch((error: unknown) => {
          options.logger.warn("identity refresh failed; handshaking again", { error });
          recover(credentials).catch((e: unknown) =>
            options.logger.error("could not recover a runtime identity", { error: e }),
          );
        });
      },
      Math.min(delay, 2 ** 31 - 1),
    );
    refreshTimer.unref();
  };

  // One handshake with the replica at `url`.
  const handshakeWith = async (url: string, withCredentials: RuntimeCredentials | undefined) => {
    const request = create(HandshakeRequestSchema, {
      coreProtocolVersion: CORE_PROTOCOL_VERSION,
      appProtocolVersion: Math.max(...options.appProtocolVersions),
      appProtocolVersions: [...options.appProtocolVersions],
      magicCookieKey: options.magicCookie.key,
      magicCookieValue: options.magicCookie.value,
      clientMetadata: { [CLIENT_VERSION_METADATA_KEY]: options.sdkVersion },
      selfId: options.selfId,
      selfVersion: options.selfVersion,
      nonce: randomBytes(16).toString("base64url"),
      timestampUnixMs: BigInt(options.now()),
      requires: options.requires.map((r) => ({ ...r })),
    });
    const headers = new Headers();
    if (withCredentials) {
      headers.set(RUNTIME_ID_HEADER, withCredentials.runtimeId);
      headers.set(AUTHORIZATION_HEADER, bearer(withCredentials.token));
    }
    let response: HandshakeResponse;
    try {
      response = await handshakeClient(url).handshake(request, { headers });
    } catch (error) {
      throw new PluginError(
        "join_failed",
        `handshake with ${url} failed: ${ConnectError.from(error).message}`,
        { cause: error },
      );
    }
    if (response.runtimeId === "" || response.runtimeToken === "") {
      throw new PluginError("join_failed", `host ${url} issued no runtime identity`);
    }
    verifyNegotiation(request, response, url);
    lastResponse = response;
    return {
      runtimeId: response.runtimeId,
      token: response.runtimeToken,
      expiresAt: Number(response.runtimeTokenExpiresUnixMs),
      hostUrl: url,
    } satisfies RuntimeCredentials;
  };

  // A handshake with the current replica, failing over when it is unavailable.
  const handshake = (withCredentials: RuntimeCredentials | undefined) =>
    replicas.call(
      (url) => handshakeWith(url, withCredentials),
      (error) =>
        isPluginError(error) && error.cause !== undefined && isHostUnavailable(error.cause),
    );

  // The first handshake: each replica in order, until one completes it.
  const join = async (): Promise<RuntimeCredentials> => {
    let last: unknown;
    for (const url of replicas.urls) {
      try {
        const next = await handshakeWith(url, undefined);
        replicas.use(url);
        return next;
      } catch (error) {
        last = error;
        if (replicas.urls.length > 1) {
          options.logger.warn("could not join host replica", { host_url: url, error });
        }
      }
    }
    if (replicas.urls.length === 1) throw last;
    const message = last instanceof Error ? last.message : String(last);
    throw new PluginError(
      "join_failed",
      `could not join any host replica (tried ${replicas.urls.join(", ")}); last error: ${message}`,
      { cause: isPluginError(last) && last.cause !== undefined ? last.cause : last },
    );
  };

  // One recovery at a time; a call that failed with an older token than the
  // current one simply retries with the current one.
  const recover = (failed: RuntimeCredentials | undefined): Promise<RuntimeCredentials> => {
    if (credentials !== undefined && failed !== undefined && credentials.token !== failed.token) {
      return Promise.resolve(credentials);
    }
    recovering ??= handshake(undefined)
      .then((next) => {
        options.logger.info("joined the host again with a new identity", {
          runtime_id: next.runtimeId,
        });
        set(next);
        return next;
      })
      .finally(() => {
        recovering = undefined;
      });
    return recovering;
  };

  const authenticate: Interceptor = (next) => async (req) => {
    const used = credentials;
    if (used === undefined) {
      throw new PluginError(
        "not_joined",
        "the plugin has no runtime identity yet: join a host first",
      );
    }
    req.header.set(RUNTIME_ID_HEADER, used.runtimeId);
    req.header.set(AUTHORIZATION_HEADER, bearer(used.token));
    try {
      return await next(req);
    } catch (error) {
      if (req.stream || ConnectError.from(error).code !== Code.Unauthenticated || closed)
        throw error;
      const fresh = await recover(used);
      req.header.set(RUNTIME_ID_HEADER, fresh.runtimeId);
      req.header.set(AUTHORIZATION_HEADER, bearer(fresh.token));
      return await next(req);
    }
  };

  const authedTransport = createFailoverTransport({
    replicas,
    transportFor: (url) => options.createTransport(url, [authenticate]),
    shouldFailOver: isHostUnavailable,
  });

  const session: HostSession = {
    get credentials() {
      return credentials;
    },
    get handshakeResponse() {
      return lastResponse;
    },
    transport: authedTransport,
    authenticate,
    get cpgHost() {
      return (lastResponse?.supportedAppProtocolVersions.length ?? 0) > 0;
    },
    replicas,
    async connect() {
      const next = await join();
      set(next);
      return next;
    },
    adopt(next) {
      if (replicas.urls.includes(next.hostUrl)) replicas.use(next.hostUrl);
      set(next);
    },
    async refresh() {
      if (credentials === undefined) {
        throw new PluginError("not_joined", "cannot refresh: the plugin has no runtime identity");
      }
      const next = await handshake(credentials);
      set(next);
      return next;
    },
    changes,
    close() {
      closed = true;
      clearTimeout(refreshTimer);
    },
  };
  return session;
}
