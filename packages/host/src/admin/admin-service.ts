import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ConnectRouter, type HandlerContext } from "@connectrpc/connect";
import { getAuthContext } from "@cpg/auth";
import { adminV1, HealthState, serviceEndpointUrl } from "@cpg/protocol";
import { getClientAddress } from "@cpg/ratelimit";
import type { Host } from "../host.js";
import { isHostError } from "../host-error.js";
import type { ManagedPluginStatus } from "../platform/platform.js";
import { linkedSignal } from "../registry/linked-signal.js";
import { codeName } from "../router/error-response.js";
import type { EventLog } from "./event-log.js";
import { OPERATOR_PROVIDER, type OperatorRole } from "./operator-authenticator.js";

function requireRole(ctx: HandlerContext, role: OperatorRole): string {
  const auth = getAuthContext(ctx.values);
  if (auth === undefined) {
    throw new ConnectError(
      "the admin API needs an operator API key or certificate",
      Code.Unauthenticated,
    );
  }
  if (auth.provider !== OPERATOR_PROVIDER) {
    throw new ConnectError("only operators may use the admin API", Code.PermissionDenied);
  }
  if (role === "operator" && auth.claims.role !== "operator") {
    throw new ConnectError(`operator "${auth.identity}" may only read`, Code.PermissionDenied);
  }
  return auth.identity;
}

const hostErrorCode: Record<string, Code> = {
  invalid_config: Code.InvalidArgument,
  unknown_plugin: Code.NotFound,
  duplicate_plugin: Code.AlreadyExists,
  launch_failed: Code.FailedPrecondition,
  closed: Code.Unavailable,
  in_use: Code.FailedPrecondition,
};

function wire(error: unknown): unknown {
  if (isHostError(error))
    return new ConnectError(error.message, hostErrorCode[error.code] ?? Code.Internal);
  return error;
}

/**
 * Registers `cpg.admin.v1.AdminService`: reads need the viewer or operator
 * role, changes the operator role; plugins (runtime tokens) are always
 * refused. Every change is audited with the operator's identity, every
 * refusal as `admin.denied` (who, which procedure, which role it needs, why).
 */
export function registerAdminService(
  router: ConnectRouter,
  getHost: () => Host,
  events: EventLog,
  stop: AbortSignal,
): void {
  const pluginStatus = (
    managed: ManagedPluginStatus | undefined,
    runtimeId: string | undefined,
  ) => {
    const identity = runtimeId ? getHost().identities.get(runtimeId) : undefined;
    const health = runtimeId ? getHost().health.get(runtimeId) : undefined;
    return create(adminV1.PluginStatusSchema, {
      name: managed?.name ?? "",
      runtimeId: runtimeId ?? "",
      selfId: identity?.selfId ?? "",
      selfVersion: identity?.selfVersion ?? "",
      health: HealthState[health?.state ?? HealthState.UNSPECIFIED],
      healthReason: health?.reason ?? "",
      strategy: managed?.strategy ?? "",
      state: managed?.state ?? "running",
      pid: managed?.pid ?? 0,
      restarts: managed?.restarts ?? 0,
      services: runtimeId
        ? getHost()
            .registry.byRuntime(runtimeId)
            .map((r) => r.serviceType)
        : [],
      lastError: managed?.lastError ?? "",
    });
  };

  const requireRoleAudited = (ctx: HandlerContext, role: OperatorRole): string => {
    try {
      return requireRole(ctx, role);
    } catch (error) {
      const denied = ConnectError.from(error);
      const auth = getAuthContext(ctx.values);
      getHost().audit("admin.denied", {
        identity: auth?.identity,
        provider: auth?.provider,
        client_address: getClientAddress(ctx.values),
        procedure: ctx.method.name,
        required_role: role,
        code: codeName(denied.code),
        reason: denied.rawMessage,
      });
      throw error;
    }
  };

  router.service(adminV1.AdminService, {
    listPlugins(_req, ctx) {
      requireRoleAudited(ctx, "viewer");
      const managed = getHost().platform.list();
      const managedIds = new Set(managed.map((m) => m.runtimeId));
      return create(adminV1.ListPluginsResponseSchema, {
        plugins: [
          ...managed.map((m) => pluginStatus(m, m.runtimeId)),
          ...getHost()
            .identities.list()
            .filter((i) => !managedIds.has(i.runtimeId))
            .map((i) => pluginStatus(undefined, i.runtimeId)),
        ],
      });
    },
    listServices(_req, ctx) {
      requireRoleAudited(ctx, "viewer");
      const services = getHost()
        .registry.serviceTypes()
        .flatMap((type) => {
          const routable = new Set(
            getHost()
              .registry.routable(type)
              .map((r) => r.id),
          );
          return getHost()
            .registry.providers(type)
            .map((r) =>
              create(adminV1.ServiceRegistrationSchema, {
                registrationId: r.id,
                serviceType: r.serviceType,
                version: r.version,
                providerId: r.runtimeId,
                providerSelfId: r.selfId,
                endpointUrl: serviceEndpointUrl(r.serviceType, r.runtimeId),
                routable: routable.has(r.id),
              }),
            );
        });
      return create(adminV1.ListServicesResponseSchema, { services });
    },
    listGrants(_req, ctx) {
      requireRoleAudited(ctx, "viewer");
      return create(adminV1.ListGrantsResponseSchema, {
        grants: getHost()
          .grants.list()
          .map((g) =>
            create(adminV1.GrantStatusSchema, {
              grantId: g.grantId,
              capabilityType: g.capabilityType,
              runtimeId: g.runtimeId,
              selfId: g.selfId,
              expiresUnixMs: BigInt(g.expiresAt),
            }),
          ),
      });
    },
    async *watchEvents(req, ctx) {
      requireRoleAudited(ctx, "viewer");
      const linked = linkedSignal([ctx.signal, stop]);
      const signal = linked.signal;
      // A slow reader keeps at most 1,000 pending events; older ones are dropped.
      const queue = events.recent(Math.max(0, Math.min(req.backlog, 500)));
      let wake: (() => void) | undefined;
      const unsubscribe = events.subscribe((e) => {
        queue.push(e);
        if (queue.length > 1000) queue.shift();
        wake?.();
      });
      const onAbort = () => wake?.();
      signal.addEventListener("abort", onAbort);
      try {
        for (;;) {
          const next = queue.shift();
          if (next) {
            yield create(adminV1.WatchEventsResponseSchema, {
              timeUnixMs: BigInt(next.time),
              kind: next.kind,
              name: next.name,
              fields: { ...next.fields },
            });
            continue;
          }
          if (signal.aborted) return;
          await new Promise<void>((resolve) => {
            wake = resolve;
          });
          wake = undefined;
        }
      } finally {
        unsubscribe();
        signal.removeEventListener("abort", onAbort);
        linked.dispose();
      }
    },
    async addPlugin(req, ctx) {
      const operator = requireRoleAudited(ctx, "operator");
      if ((req.command === "") === (req.url === "")) {
        throw new ConnectError(
          "give either command (a process plugin) or url (a running plugin)",
          Code.InvalidArgument,
        );
      }
      const portHandoff = req.portHandoff;
      if (portHandoff !== "" && portHandoff !== "announce" && portHandoff !== "env") {
        throw new ConnectError(
          `port_handoff must be "announce" (cpg SDK plugins), "env" (plugins that read PORT, e.g. Go) or empty, got ${JSON.stringify(portHandoff)}`,
          Code.InvalidArgument,
        );
      }
      if (portHandoff !== "" && req.command === "") {
        throw new ConnectError(
          "port_handoff applies to process plugins (command) only",
          Code.InvalidArgument,
        );
      }
      const status = await getHost()
        .platform.add({
          name: req.name,
          strategy:
            req.command !== ""
              ? {
                  kind: "process",
                  command: req.command,
                  args: [...req.args],
                  env: { ...req.env },
                  ...(portHandoff !== "" ? { portHandoff } : {}),
                }
              : { kind: "remote", url: req.url },
        })
        .catch((error: unknown) => {
          throw wire(error);
        });
      getHost().audit("admin.add_plugin", { operator, plugin: req.name });
      return create(adminV1.AddPluginResponseSchema, {
        plugin: pluginStatus(status, status.runtimeId),
      });
    },
    async removePlugin(req, ctx) {
      const operator = requireRoleAudited(ctx, "operator");
      await getHost()
        .platform.remove(req.name, {
          force: req.force,
          ...(req.gracePeriodSeconds > 0 ? { graceMs: req.gracePeriodSeconds * 1000 } : {}),
        })
        .catch((error: unknown) => {
          throw wire(error);
        });
      getHost().audit("admin.remove_plugin", { operator, plugin: req.name });
      return create(adminV1.RemovePluginResponseSchema, {});
    },
    async replacePlugin(req, ctx) {
      const operator = requireRoleAudited(ctx, "operator");
      const status = await getHost()
        .platform.replace(req.name)
        .catch((error: unknown) => {
          throw wire(error);
        });
      getHost().audit("admin.replace_plugin", {
        operator,
        plugin: req.name,
        runtime_id: status.runtimeId,
      });
      return create(adminV1.ReplacePluginResponseSchema, {
        plugin: pluginStatus(status, status.runtimeId),
      });
    },
    revokeGrant(req, ctx) {
      const operator = requireRoleAudited(ctx, "operator");
      const revoked = getHost().grants.revoke(req.grantId);
      getHost().audit("admin.revoke_grant", { operator, grant_id: req.grantId, revoked });
      return create(adminV1.RevokeGrantResponseSchema, { revoked });
    },
    revokeRuntime(req, ctx) {
      const operator = requireRoleAudited(ctx, "operator");
      const revoked = getHost().identities.revoke(req.runtimeId);
      getHost().audit("admin.revoke_runtime", { operator, runtime_id: req.runtimeId, revoked });
      return create(adminV1.RevokeRuntimeResponseSchema, { revoked });
    },
  });
}
