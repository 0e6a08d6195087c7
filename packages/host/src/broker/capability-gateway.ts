import type * as http from "node:http";
import type * as http2 from "node:http2";
import {
  Code,
  ConnectError,
  type ConnectRouter,
  createContextValues,
  type Interceptor,
} from "@connectrpc/connect";
import { setAuthContext } from "@cpg/auth";
import {
  createNodeConnectAdapter,
  type Drain,
  type EventStream,
  type NodeConnectAdapter,
} from "@cpg/plugin-sdk/internal";
import {
  AUTHORIZATION_HEADER,
  parseBearer,
  parseCapabilityRoute,
  RUNTIME_ID_HEADER,
} from "@cpg/protocol";
import type { AuditFunction } from "../audit/audit-sink.js";
import type { HostEvent } from "../events/host-event.js";
import { codeName, writeRpcError } from "../router/error-response.js";
import { wireProtocolOf } from "../router/wire-protocol.js";
import type { CapabilityGrant } from "./capability-grant.js";
import { capabilityGrantKey } from "./capability-grant.js";
import type { CapabilityRegistry, HostCapability } from "./capability-registry.js";
import type { GrantStore } from "./grant-store.js";

type Request = http.IncomingMessage | http2.Http2ServerRequest;
type Response = http.ServerResponse | http2.Http2ServerResponse;

const grantOfRequest = Symbol("cpg capability grant");

/**
 * Serves capability calls at `/capabilities/{type}/{grant_id}/<package>.<Service>/<Method>`:
 * checks the grant token in constant time, that the grant is for `{type}`, and
 * (when the caller names its runtime) that it is the runtime the grant is
 * bound to; then hands the call to the capability's Connect implementation.
 * Calls run concurrently: nothing is locked around a capability call.
 */
export function createCapabilityGateway(options: {
  capabilities: CapabilityRegistry;
  grants: GrantStore;
  drain: Drain;
  events: EventStream<HostEvent>;
  interceptors: readonly Interceptor[];
  readMaxBytes: number;
  /**
   * Audits every capability call once: `capability.used` (grant id, runtime
   * id, capability type, procedure, code, duration) when the grant was
   * accepted, `capability.call_denied` (code and reason) when it was not.
   * Never tokens or payloads. Default: none.
   */
  audit?: AuditFunction;
}) {
  const audit = options.audit ?? (() => {});
  // Outermost interceptor of every capability: one `capability.used` per call, with its final code.
  const auditUse: Interceptor = (next) => async (req) => {
    const grant = req.contextValues.get(capabilityGrantKey);
    const started = performance.now();
    let recorded = false;
    const record = (code: string) => {
      if (recorded) return;
      recorded = true;
      audit("capability.used", {
        grant_id: grant?.grantId,
        runtime_id: grant?.runtimeId,
        self_id: grant?.selfId,
        capability_type: grant?.capabilityType,
        procedure: `/${req.service.typeName}/${req.method.name}`,
        code,
        duration_ms: Math.round(performance.now() - started),
      });
    };
    const fail = (error: unknown) => record(codeName(ConnectError.from(error).code));
    try {
      const res = await next(req);
      if (!res.stream) {
        record("ok");
        return res;
      }
      const messages = res.message;
      return {
        ...res,
        message: (async function* () {
          try {
            yield* messages;
            record("ok");
          } catch (error) {
            fail(error);
            throw error;
          } finally {
            record(codeName(Code.Canceled));
          }
        })(),
      };
    } catch (error) {
      fail(error);
      throw error;
    }
  };
  const adapters = new Map<string, NodeConnectAdapter>();
  const adapterFor = (capability: HostCapability) => {
    let adapter = adapters.get(capability.type);
    if (adapter === undefined) {
      adapter = createNodeConnectAdapter({
        routes: (router: ConnectRouter) =>
          router.service(capability.service, capability.implementation),
        interceptors: [auditUse, ...options.interceptors],
        readMaxBytes: options.readMaxBytes,
        contextValues(req) {
          const values = createContextValues();
          const grant = (req as unknown as Record<symbol, CapabilityGrant>)[grantOfRequest];
          if (grant) {
            const { token: _token, ...visible } = grant;
            values.set(capabilityGrantKey, visible);
            // Rate limits key capability calls by the plugin the grant belongs to.
            setAuthContext(values, {
              identity: grant.runtimeId,
              provider: "capability-grant",
              claims: { selfId: grant.selfId, capabilityType: grant.capabilityType },
            });
          }
          return values;
        },
      });
      adapters.set(capability.type, adapter);
    }
    return adapter;
  };

  return function serveCapability(req: Request, res: Response): void {
    const contentType = req.headers["content-type"];
    const protocol = wireProtocolOf(contentType);
    const fail = (code: Code, message: string) =>
      writeRpcError(res, protocol, code, message, contentType);
    const end = options.drain.enter();
    if (end === undefined) {
      fail(Code.Unavailable, "host is shutting down");
      return;
    }
    res.once("close", end);
    const route = parseCapabilityRoute(req.url ?? "");
    if (route === undefined || route.procedure === "") {
      fail(Code.NotFound, "capability paths are /capabilities/{type}/{grant_id}/{procedure}");
      return;
    }
    // A refused capability call: what it claimed (never the token), and why.
    const deny = (code: Code, message: string, grant?: CapabilityGrant) => {
      const claimed = req.headers[RUNTIME_ID_HEADER];
      audit("capability.call_denied", {
        grant_id: route.grantId,
        runtime_id: grant?.runtimeId ?? (typeof claimed === "string" ? claimed : undefined),
        self_id: grant?.selfId,
        capability_type: route.capabilityType,
        procedure: route.procedure,
        code: codeName(code),
        reason: message,
      });
      fail(code, message);
    };
    const header = req.headers[AUTHORIZATION_HEADER];
    const token = typeof header === "string" ? parseBearer(header) : undefined;
    const grant = token === undefined ? undefined : options.grants.verify(route.grantId, token);
    if (grant === undefined) {
      deny(Code.Unauthenticated, "invalid, expired or revoked capability grant");
      return;
    }
    const runtimeId = req.headers[RUNTIME_ID_HEADER];
    if (typeof runtimeId === "string" && runtimeId !== grant.runtimeId) {
      deny(Code.PermissionDenied, "this capability grant belongs to another plugin", grant);
      return;
    }
    if (grant.capabilityType !== route.capabilityType) {
      deny(
        Code.PermissionDenied,
        `this grant is for capability "${grant.capabilityType}", not "${route.capabilityType}"`,
        grant,
      );
      return;
    }
    const capability = options.capabilities.get(route.capabilityType);
    // A call the grant allows but that reaches no capability procedure.
    const unserved = (code: Code, message: string) => {
      audit("capability.used", {
        grant_id: grant.grantId,
        runtime_id: grant.runtimeId,
        self_id: grant.selfId,
        capability_type: grant.capabilityType,
        procedure: route.procedure,
        code: codeName(code),
        duration_ms: 0,
      });
      fail(code, message);
    };
    if (capability === undefined) {
      unserved(Code.NotFound, `no capability "${route.capabilityType}" on this host`);
      return;
    }
    if (!route.procedure.startsWith(`/${capability.service.typeName}/`)) {
      unserved(
        Code.Unimplemented,
        `capability "${route.capabilityType}" has no procedure ${route.procedure}`,
      );
      return;
    }
    (req as unknown as Record<symbol, CapabilityGrant>)[grantOfRequest] = grant;
    const q = (req.url ?? "").indexOf("?");
    req.url = route.procedure + (q === -1 ? "" : (req.url ?? "").slice(q));
    adapterFor(capability)(req, res);
  };
}
