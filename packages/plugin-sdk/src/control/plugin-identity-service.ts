import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ConnectRouter } from "@connectrpc/connect";
import {
  GetPluginInfoResponseSchema,
  PluginIdentity,
  type ServiceDeclaration,
  type ServiceDependency,
  SetRuntimeIdentityResponseSchema,
} from "@cpg/protocol";
import type { RuntimeCredentials } from "../host-link/host-session.js";
import type { ControlGuard } from "./plugin-control-service.js";

/**
 * Registers `connectplugin.v1.PluginIdentity` for the managed model: the host
 * reads what the plugin is with `GetPluginInfo`, then hands over the runtime
 * identity with `SetRuntimeIdentity`.
 * @private
 */
export function registerPluginIdentityService(
  router: ConnectRouter,
  options: {
    info: () => {
      selfId: string;
      selfVersion: string;
      provides: ServiceDeclaration[];
      requires: ServiceDependency[];
      metadata: Record<string, string>;
    };
    guard: ControlGuard;
    adopt: (credentials: RuntimeCredentials) => void;
  },
): void {
  router.service(PluginIdentity, {
    getPluginInfo() {
      return create(GetPluginInfoResponseSchema, options.info());
    },
    setRuntimeIdentity(req, ctx) {
      options.guard(ctx);
      if (req.runtimeId === "" || req.runtimeToken === "") {
        throw new ConnectError(
          "runtime_id and runtime_token must not be empty",
          Code.InvalidArgument,
        );
      }
      let hostUrl: URL;
      try {
        hostUrl = new URL(req.hostUrl);
      } catch {
        throw new ConnectError(
          `host_url must be an absolute http(s) URL, got ${JSON.stringify(req.hostUrl)}`,
          Code.InvalidArgument,
        );
      }
      if (hostUrl.protocol !== "http:" && hostUrl.protocol !== "https:") {
        throw new ConnectError(
          `host_url must be an absolute http(s) URL, got ${JSON.stringify(req.hostUrl)}`,
          Code.InvalidArgument,
        );
      }
      options.adopt({
        runtimeId: req.runtimeId,
        token: req.runtimeToken,
        expiresAt: Number(req.runtimeTokenExpiresUnixMs),
        hostUrl: req.hostUrl.replace(/\/$/, ""),
      });
      return create(SetRuntimeIdentityResponseSchema, { acknowledged: true });
    },
  });
}
