import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ConnectRouter, type HandlerContext } from "@connectrpc/connect";
import { getAuthContext } from "@cpg/auth";
import { negotiationMac } from "@cpg/auth/node";
import type { Logger } from "@cpg/plugin-sdk";
import {
  type Capability,
  CORE_PROTOCOL_VERSION,
  type HandshakeRequest,
  HandshakeResponseSchema,
  HandshakeService,
  type PluginInfo,
  SERVER_VERSION_METADATA_KEY,
} from "@cpg/protocol";
import { getClientAddress } from "@cpg/ratelimit";
import { isValidationError, validateDependencyList, validateSelfId } from "@cpg/validation";
import type { AuditFunction } from "../audit/audit-sink.js";
import type { RuntimeIdentities } from "../identity/runtime-identities.js";
import type { RuntimeIdentity } from "../identity/runtime-identity.js";
import { codeName } from "../router/error-response.js";
import { verifiedPeerIdentity } from "../security/peer-identity.js";
import { RUNTIME_TOKEN_PROVIDER } from "../security/runtime-token-authenticator.js";
import type { ReplayGuard } from "./replay-guard.js";
import { negotiateAppProtocolVersion, offeredVersions } from "./version-negotiation.js";

/**
 * What the handshake service needs from the host.
 */
export interface HandshakeServiceOptions {
  readonly magicCookieKey: string;
  readonly magicCookieValue: string;
  /** Application protocol versions the host supports. */
  readonly appProtocolVersions: readonly number[];
  /** Reported as `server_metadata.server_version`. */
  readonly serverVersion: string;
  readonly identities: RuntimeIdentities;
  /** Capabilities advertised in `host_capabilities`. */
  readonly capabilities: () => readonly Capability[];
  /** Plugins advertised in `plugins` (narrowed by `requested_plugins`). */
  readonly plugins: () => readonly PluginInfo[];
  /** Replay protection of handshakes. */
  readonly replay: ReplayGuard;
  /** Called with every identity issued, and the request headers of its handshake. */
  readonly onIssued?: (identity: RuntimeIdentity, requestHeader: Headers) => void;
  readonly logger: Logger;
  /**
   * Audits `handshake.accepted` (runtime id, self_id, self_version, app
   * protocol version, peer identity) and `handshake.refused` (code, message,
   * client address; never the magic cookie value). Default: none.
   */
  readonly audit?: AuditFunction;
}

/**
 * Registers `connectplugin.v1.HandshakeService` on a router.
 *
 * Checks, in the order connect-plugin-go uses: magic cookie
 * (`invalid_argument`), core protocol version (`invalid_argument`), application
 * protocol version (`failed_precondition`), self_id (`invalid_argument`).
 * A named caller gets a fresh runtime identity; a caller that presents a valid
 * runtime token for the same self_id gets its token rotated instead (same
 * runtime id, new token, new expiry), which is how identities are refreshed.
 */
export function registerHandshakeService(router: ConnectRouter, options: HandshakeServiceOptions) {
  const audit = options.audit ?? (() => {});
  const handshake = async (req: HandshakeRequest, ctx: HandlerContext) => {
    if (
      req.magicCookieKey !== options.magicCookieKey ||
      req.magicCookieValue !== options.magicCookieValue
    ) {
      throw new ConnectError(
        "magic cookie mismatch: this is a cpg plugin host; set the magic cookie the host expects",
        Code.InvalidArgument,
      );
    }
    if (req.coreProtocolVersion !== CORE_PROTOCOL_VERSION) {
      throw new ConnectError(
        `unsupported core protocol version ${req.coreProtocolVersion} (supported: ${CORE_PROTOCOL_VERSION})`,
        Code.InvalidArgument,
      );
    }
    const appVersion = negotiateAppProtocolVersion(req, options.appProtocolVersions);
    if (appVersion === undefined) {
      throw new ConnectError(
        `no common app protocol version: plugin offers [${offeredVersions(req).join(", ")}], host supports [${options.appProtocolVersions.join(", ")}]`,
        Code.FailedPrecondition,
      );
    }
    await options.replay.check(req.nonce, req.timestampUnixMs);
    let runtimeId = "";
    let runtimeToken = "";
    let expiresAt = 0;
    if (req.selfId !== "") {
      try {
        validateSelfId(req.selfId);
        validateDependencyList(req.requires.map((r) => r.type));
      } catch (error) {
        if (isValidationError(error)) {
          throw new ConnectError(error.message, Code.InvalidArgument);
        }
        throw error;
      }
      const auth = getAuthContext(ctx.values);
      const current =
        auth?.provider === RUNTIME_TOKEN_PROVIDER
          ? options.identities.get(auth.identity)
          : undefined;
      const refreshed = current !== undefined && current.selfId === req.selfId;
      const identity = refreshed
        ? await options.identities.refresh(current.runtimeId)
        : await options.identities.issue({
            selfId: req.selfId,
            selfVersion: req.selfVersion,
            peerIdentity: verifiedPeerIdentity(ctx.values),
            requires: req.requires.map((r) => r.type),
          });
      options.onIssued?.(identity, ctx.requestHeader);
      runtimeId = identity.runtimeId;
      runtimeToken = identity.token;
      expiresAt = identity.expiresAt;
      audit("handshake.accepted", {
        runtime_id: runtimeId,
        self_id: req.selfId,
        self_version: req.selfVersion,
        app_protocol_version: appVersion,
        peer_identity: identity.peerIdentity,
        managed: identity.managed,
        refreshed,
        client_address: getClientAddress(ctx.values),
      });
      options.logger.info("handshake", {
        runtime_id: runtimeId,
        self_id: req.selfId,
        self_version: req.selfVersion,
        app_protocol_version: appVersion,
        refreshed,
      });
    } else {
      audit("handshake.accepted", {
        anonymous: true,
        app_protocol_version: appVersion,
        client_address: getClientAddress(ctx.values),
      });
      options.logger.debug("anonymous handshake", { app_protocol_version: appVersion });
    }
    return create(HandshakeResponseSchema, {
      coreProtocolVersion: CORE_PROTOCOL_VERSION,
      appProtocolVersion: appVersion,
      // Go's requested_plugins narrows the list to the names asked for.
      plugins: options
        .plugins()
        .filter((p) => req.requestedPlugins.length === 0 || req.requestedPlugins.includes(p.name)),
      serverMetadata: { [SERVER_VERSION_METADATA_KEY]: options.serverVersion },
      hostCapabilities: [...options.capabilities()],
      runtimeId,
      runtimeToken,
      runtimeTokenExpiresUnixMs: BigInt(expiresAt),
      supportedAppProtocolVersions: [...options.appProtocolVersions],
      nonce: req.nonce,
      negotiationMac:
        runtimeToken === ""
          ? ""
          : negotiationMac({
              runtimeToken,
              coreProtocolVersion: CORE_PROTOCOL_VERSION,
              appProtocolVersion: appVersion,
              supportedAppProtocolVersions: options.appProtocolVersions,
              nonce: req.nonce,
              runtimeId,
            }),
    });
  };
  router.service(HandshakeService, {
    async handshake(req, ctx) {
      try {
        return await handshake(req, ctx);
      } catch (error) {
        const refused = ConnectError.from(error);
        audit("handshake.refused", {
          code: codeName(refused.code),
          reason: refused.rawMessage,
          self_id: req.selfId,
          self_version: req.selfVersion,
          client_address: getClientAddress(ctx.values),
        });
        throw error;
      }
    },
  });
}
