import type { Interceptor, Transport } from "@connectrpc/connect";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { AUTHORIZATION_HEADER, bearer, CapabilityBroker } from "@cpg/protocol";
import { isConnectionFailure } from "../host-link/connection-failure.js";
import { createFailoverTransport } from "../host-link/failover-transport.js";
import type { HostSession } from "../host-link/host-session.js";
import { PluginError } from "../plugin-error.js";

interface Grant {
  readonly grantId: string;
  readonly token: string;
  readonly endpointUrl: string;
  readonly issuedAt: number;
  readonly expiresAt: number;
  readonly runtimeId: string;
  readonly transport: Transport;
}

/**
 * The path of `url` on one of the host's replicas (`/capabilities/...`), or
 * undefined when it is not under any of them.
 */
function pathOnReplica(url: string, replicaUrls: readonly string[]): string | undefined {
  for (const replica of replicaUrls) {
    if (url.startsWith(`${replica}/`)) return url.slice(replica.length);
  }
  return undefined;
}

/**
 * A transport to a host capability: it requests a grant on first use,
 * requests a new one once 80% of the grant's lifetime has passed (or when the
 * plugin's identity changed), and after an `unauthenticated` answer (revoked
 * or expired grant) requests a new grant and retries a unary call once.
 *
 * A grant endpoint on the host (host-relative, or under one of the host's
 * replica URLs) is called on the replica in use, and fails over to the next
 * replica when the connection to it fails (replicas share grants). An
 * `unavailable` answer is the capability's and does not fail over.
 * @private
 */
export function createCapabilityTransport(options: {
  session: () => HostSession | undefined;
  capabilityType: string;
  minVersion: string;
  reason: string;
  now: () => number;
  /** Base URL for host-relative grant endpoints. */
  baseUrl: () => string | undefined;
  transportFor: (baseUrl: string, interceptors: Interceptor[]) => Transport;
}): Transport & { readonly grantId: string | undefined } {
  let grant: Grant | undefined;
  let pending: Promise<Grant> | undefined;

  const request = async (): Promise<Grant> => {
    const session = options.session();
    if (!session?.credentials) {
      throw new PluginError("not_joined", "the plugin has not joined a host yet");
    }
    const broker = createClient(CapabilityBroker, session.transport);
    const res = await broker.requestCapability({
      capabilityType: options.capabilityType,
      minVersion: options.minVersion,
      reason: options.reason,
    });
    const g = res.grant;
    if (!g || g.endpointUrl === "" || g.bearerToken === "") {
      throw new ConnectError(
        `host returned no grant for "${options.capabilityType}"`,
        Code.Internal,
      );
    }
    const baseUrl = options.baseUrl();
    const endpointUrl = g.endpointUrl.startsWith("/")
      ? `${baseUrl ?? session.credentials.hostUrl}${g.endpointUrl}`
      : g.endpointUrl;
    const token = g.bearerToken;
    const authorize: Interceptor = (next) => (req) => {
      req.header.set(AUTHORIZATION_HEADER, bearer(token));
      return next(req);
    };
    const hostPath =
      baseUrl === undefined ? pathOnReplica(endpointUrl, session.replicas.urls) : undefined;
    const issuedAt = options.now();
    return {
      grantId: g.grantId,
      token,
      endpointUrl,
      issuedAt,
      // Go hosts send no expiry: treat such grants as good for an hour.
      expiresAt: g.expiresUnixMs > 0n ? Number(g.expiresUnixMs) : issuedAt + 3_600_000,
      runtimeId: session.credentials.runtimeId,
      transport:
        hostPath === undefined
          ? options.transportFor(endpointUrl, [authorize])
          : createFailoverTransport({
              replicas: session.replicas,
              transportFor: (hostUrl) => options.transportFor(`${hostUrl}${hostPath}`, [authorize]),
              shouldFailOver: isConnectionFailure,
            }),
    };
  };

  const current = async (renew: boolean): Promise<Grant> => {
    const session = options.session();
    const stale =
      grant === undefined ||
      renew ||
      grant.runtimeId !== session?.credentials?.runtimeId ||
      options.now() >= grant.issuedAt + (grant.expiresAt - grant.issuedAt) * 0.8;
    if (!stale) return grant!;
    pending ??= request()
      .then((g) => {
        grant = g;
        return g;
      })
      .finally(() => {
        pending = undefined;
      });
    return pending;
  };

  const refused = (error: unknown) => ConnectError.from(error).code === Code.Unauthenticated;

  return {
    get grantId() {
      return grant?.grantId;
    },
    async unary(method, signal, timeoutMs, header, input, contextValues) {
      const g = await current(false);
      try {
        return await g.transport.unary(method, signal, timeoutMs, header, input, contextValues);
      } catch (error) {
        if (!refused(error)) throw error;
        const fresh = await current(true);
        return fresh.transport.unary(method, signal, timeoutMs, header, input, contextValues);
      }
    },
    async stream(method, signal, timeoutMs, header, input, contextValues) {
      const g = await current(false);
      return g.transport
        .stream(method, signal, timeoutMs, header, input, contextValues)
        .catch((error: unknown) => {
          if (refused(error)) grant = undefined;
          throw error;
        });
    },
  };
}
