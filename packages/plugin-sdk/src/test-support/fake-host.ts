// A minimal stand-in for a host, for the SDK's own tests and README examples
// (the real host depends on the SDK, so the SDK cannot test against it). It
// behaves like a connect-plugin-go host: plain HTTP/1.1, HandshakeService,
// PluginLifecycle, ServiceRegistry, a router that forwards
// /services/{type}/{provider}/{rest} to the provider's base_url, and a
// CapabilityBroker granting the "logger" capability, served at
// /capabilities/logger/{grant}/. It records what plugins send. Not a reference for how a host should work: no rate
// limits, no policies, no expiry.
//
// Several fake hosts can act as replicas of one replicated host: start the
// others with `state: first.state` and they share identities, tokens and
// registrations (as cpg-host replicas share them through Redis), while each
// records the calls it served itself.
import * as http from "node:http";
import type { MessageInitShape } from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  type ConnectRouter,
  createContextKey,
  createContextValues,
  type HandlerContext,
} from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import {
  AUTHORIZATION_HEADER,
  BASE_URL_METADATA_KEY,
  CALLER_ID_HEADER,
  CapabilityBroker,
  capabilityEndpointUrl,
  type HandshakeRequest,
  type HandshakeResponse,
  type HandshakeResponseSchema,
  HandshakeService,
  Logger,
  type LogRequest,
  PluginLifecycle,
  parseBearer,
  parseCapabilityRoute,
  type RegisterServiceRequest,
  type ReportHealthRequest,
  RUNTIME_ID_HEADER,
  ServiceRegistry,
  ServiceState,
} from "@cpg/protocol";
import { listenOnFreePort } from "@cpg/test-utils";

/** A call as the fake host saw it: the message and the caller's credentials. */
export interface SeenCall<M> {
  readonly message: M;
  readonly runtimeId: string | null;
  readonly token: string | undefined;
  readonly httpVersion: string;
  readonly contentType: string | null;
}

/** A service registration on the fake host. */
export interface FakeRegistration {
  readonly id: string;
  readonly runtimeId: string;
  readonly request: RegisterServiceRequest;
}

/** What the replicas of one fake host share. */
export interface FakeHostState {
  /** Tokens the host accepts (by token, the runtime id). */
  readonly validTokens: Map<string, string>;
  readonly registrations: FakeRegistration[];
  readonly registerCalls: FakeRegistration[];
  /** Handshakes served by all replicas (numbers runtime ids and tokens). */
  handshakeCount: number;
  /** Capability grants: by grant id, the grant's bearer token. */
  readonly grants: Map<string, string>;
  nextRegistration: number;
  /** Woken on every report and registry change, on any replica. */
  readonly waiters: Set<() => void>;
}

export interface FakeHost {
  readonly url: string;
  /** State shared with replicas started with `state: host.state`. */
  readonly state: FakeHostState;
  readonly handshakes: SeenCall<HandshakeRequest>[];
  readonly reports: SeenCall<ReportHealthRequest>[];
  /**
   * Every call this replica served, in order: the method name for its own
   * services (`"ReportHealth"`, `"RegisterService"`, ...), the path for a
   * routed call (`"/services/kv/kv-store-1/Get"`).
   */
  readonly calls: string[];
  /**
   * When set, the host's own services answer `unavailable` with this
   * message, as a cpg-host replica that cannot reach Redis does. Routed
   * calls still pass.
   */
  unavailable: string | undefined;
  /** Current registrations, in order. */
  readonly registrations: FakeRegistration[];
  /** Every RegisterService call so far, including registrations removed since. */
  readonly registerCalls: FakeRegistration[];
  /** Tokens the host accepts (by token, the runtime id); other tokens are `unauthenticated`. */
  readonly validTokens: Map<string, string>;
  /**
   * Messages this replica's logger capability received. A message
   * `"unavailable"` is answered with `unavailable`, as a capability that
   * cannot serve would.
   */
  readonly logged: LogRequest[];
  /** Resolves with ReportHealth number `index` (0-based) once it arrived. */
  nextReport(index?: number): Promise<SeenCall<ReportHealthRequest>>;
  /**
   * Closes the host once it has answered every call in flight (watch
   * streams aside), as a replica that stops after draining would: a client
   * then finds it gone on its next call, not in the middle of one.
   */
  closeWhenIdle(): Promise<void>;
  close(): Promise<void>;
}

export interface FakeHostOptions {
  /**
   * Answers a handshake. Default: issues `<selfId>-<n>` with token `token-<n>`
   * and no expiry (a Go host sends none); a refresh (credentials sent) keeps
   * the runtime id.
   */
  handshake?: (
    req: HandshakeRequest,
    n: number,
    runtimeId: string | null,
  ) => MessageInitShape<typeof HandshakeResponseSchema> | HandshakeResponse;
  /** Be a replica of the host that owns this state. Default: a host of its own. */
  state?: FakeHostState;
  /**
   * Grant endpoints relative to the host (`/capabilities/...`), as Go hosts
   * give them. Default: absolute, on this replica's URL, as cpg hosts do.
   */
  relativeGrantEndpoints?: boolean;
}

const httpVersionKey = createContextKey("");

export async function startFakeHost(options: FakeHostOptions = {}): Promise<FakeHost> {
  const state: FakeHostState = options.state ?? {
    validTokens: new Map(),
    registrations: [],
    registerCalls: [],
    handshakeCount: 0,
    grants: new Map(),
    nextRegistration: 1,
    waiters: new Set(),
  };
  const { validTokens, registrations, registerCalls, waiters } = state;
  const handshakes: SeenCall<HandshakeRequest>[] = [];
  const reports: SeenCall<ReportHealthRequest>[] = [];
  const calls: string[] = [];
  const logged: LogRequest[] = [];
  const wake = () => {
    for (const w of [...waiters]) w();
  };

  // Records a call to the host's own services; refuses it while unavailable.
  const serve = (method: string) => {
    calls.push(method);
    if (host.unavailable !== undefined) {
      throw new ConnectError(host.unavailable, Code.Unavailable);
    }
  };

  const authenticate = (ctx: HandlerContext): string => {
    const token = parseBearer(ctx.requestHeader.get(AUTHORIZATION_HEADER));
    const runtimeId = token === undefined ? undefined : validTokens.get(token);
    if (runtimeId === undefined || runtimeId !== ctx.requestHeader.get(RUNTIME_ID_HEADER)) {
      throw new ConnectError("unknown runtime token", Code.Unauthenticated);
    }
    return runtimeId;
  };

  const providerOf = (serviceType: string) =>
    registrations.find((r) => r.request.serviceType === serviceType);

  const routes = (router: ConnectRouter) => {
    router.service(HandshakeService, {
      handshake(req, ctx) {
        serve("Handshake");
        const runtimeId = ctx.requestHeader.get(RUNTIME_ID_HEADER);
        handshakes.push(seen(req, ctx));
        const n = ++state.handshakeCount;
        const res = options.handshake
          ? options.handshake(req, n, runtimeId)
          : {
              coreProtocolVersion: 1,
              appProtocolVersion: 1,
              runtimeId: runtimeId ?? `${req.selfId}-${n}`,
              runtimeToken: `token-${n}`,
              serverMetadata: { server_version: "fake" },
            };
        if (res.runtimeId && res.runtimeToken) validTokens.set(res.runtimeToken, res.runtimeId);
        return res;
      },
    });
    router.service(CapabilityBroker, {
      requestCapability(req, ctx) {
        serve("RequestCapability");
        authenticate(ctx);
        if (req.capabilityType !== "logger") {
          throw new ConnectError(`no capability "${req.capabilityType}"`, Code.NotFound);
        }
        const grantId = `grant-${state.grants.size + 1}`;
        const bearerToken = `grant-token-${state.grants.size + 1}`;
        state.grants.set(grantId, bearerToken);
        const path = `/capabilities/logger/${grantId}`;
        return {
          grant: {
            grantId,
            bearerToken,
            endpointUrl: options.relativeGrantEndpoints
              ? path
              : capabilityEndpointUrl(host.url, "logger", grantId),
          },
        };
      },
    });
    router.service(PluginLifecycle, {
      reportHealth(req, ctx) {
        serve("ReportHealth");
        authenticate(ctx);
        reports.push(seen(req, ctx));
        wake();
        return {};
      },
    });
    router.service(ServiceRegistry, {
      registerService(req, ctx) {
        serve("RegisterService");
        const runtimeId = authenticate(ctx);
        const id = `reg-${state.nextRegistration++}`;
        registrations.push({ id, runtimeId, request: req });
        registerCalls.push({ id, runtimeId, request: req });
        wake();
        return { registrationId: id };
      },
      unregisterService(req, ctx) {
        serve("UnregisterService");
        authenticate(ctx);
        const i = registrations.findIndex((r) => r.id === req.registrationId);
        if (i >= 0) registrations.splice(i, 1);
        wake();
        return {};
      },
      discoverService(req, ctx) {
        serve("DiscoverService");
        authenticate(ctx);
        const r = providerOf(req.serviceType);
        if (!r) {
          throw new ConnectError(`no provider of "${req.serviceType}"`, Code.NotFound);
        }
        return {
          endpoint: {
            providerId: r.runtimeId,
            version: r.request.version,
            endpointUrl: `/services/${req.serviceType}/${r.runtimeId}`,
          },
          singleProvider: true,
        };
      },
      async *watchService(req, ctx) {
        serve("WatchService");
        authenticate(ctx);
        let last: ServiceState | undefined;
        while (!ctx.signal.aborted) {
          const r = providerOf(req.serviceType);
          const state = r ? ServiceState.AVAILABLE : ServiceState.UNAVAILABLE;
          if (state !== last) {
            last = state;
            yield {
              serviceType: req.serviceType,
              state,
              ...(r
                ? {
                    endpoint: {
                      providerId: r.runtimeId,
                      version: r.request.version,
                      endpointUrl: `/services/${req.serviceType}/${r.runtimeId}`,
                    },
                  }
                : {}),
            };
          }
          await new Promise<void>((resolve) => {
            const done = () => {
              waiters.delete(done);
              ctx.signal.removeEventListener("abort", done);
              resolve();
            };
            waiters.add(done);
            ctx.signal.addEventListener("abort", done);
          });
        }
      },
    });
  };

  // /capabilities/logger/{grant}/{procedure}: the logger capability, for
  // holders of the grant's token.
  const capabilityApi = connectNodeAdapter({
    routes(router) {
      router.service(Logger, {
        log(req) {
          logged.push(req);
          if (req.message === "unavailable") {
            throw new ConnectError("log sink unavailable", Code.Unavailable);
          }
          return {};
        },
      });
    },
  });
  const capability = (req: http.IncomingMessage, res: http.ServerResponse) => {
    calls.push(req.url ?? "");
    const route = parseCapabilityRoute(req.url ?? "");
    const token = route && state.grants.get(route.grantId);
    if (!route || token === undefined || parseBearer(req.headers.authorization) !== token) {
      res.writeHead(401, { "content-type": "text/plain" }).end("unauthenticated\n");
      return;
    }
    req.url = route.procedure;
    capabilityApi(req, res);
  };

  const api = connectNodeAdapter({
    routes,
    contextValues: (req) => createContextValues().set(httpVersionKey, req.httpVersion),
  });

  // /services/{type}/{provider}/{rest}: forwards to the provider's base_url,
  // with the caller's credentials replaced by its runtime id.
  const route = (req: http.IncomingMessage, res: http.ServerResponse) => {
    calls.push(req.url ?? "");
    const [, , type, provider, ...rest] = (req.url ?? "").split("/");
    const caller = validTokens.get(parseBearer(req.headers.authorization) ?? "");
    if (caller === undefined || caller !== req.headers[RUNTIME_ID_HEADER]) {
      res.writeHead(401, { "content-type": "text/plain" }).end("unauthenticated\n");
      return;
    }
    const r = registrations.find((x) => x.request.serviceType === type && x.runtimeId === provider);
    const baseUrl = r?.request.metadata[BASE_URL_METADATA_KEY];
    if (!r || !baseUrl) {
      res.writeHead(404, { "content-type": "text/plain" }).end("no such provider\n");
      return;
    }
    const path = rest.length === 1 ? `${r.request.endpointPath}${rest[0]}` : `/${rest.join("/")}`;
    const headers = { ...req.headers };
    delete headers.authorization;
    delete headers[RUNTIME_ID_HEADER];
    delete headers.host;
    headers[CALLER_ID_HEADER] = caller;
    const upstream = http.request(
      `${baseUrl}${path}`,
      { method: req.method, headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on("error", () => {
      if (!res.headersSent) res.writeHead(502, { "content-type": "text/plain" });
      res.end("upstream failed\n");
    });
    req.pipe(upstream);
  };

  // Calls being answered, watch streams aside (they stay open).
  let inFlight = 0;
  const idle = new Set<() => void>();
  const server = await listenOnFreePort(
    http.createServer((req, res) => {
      if (!(req.url ?? "").endsWith("/WatchService")) {
        inFlight++;
        res.once("close", () => {
          if (--inFlight === 0) for (const done of [...idle]) done();
        });
      }
      if ((req.url ?? "").startsWith("/services/")) route(req, res);
      else if ((req.url ?? "").startsWith("/capabilities/")) capability(req, res);
      else api(req, res);
    }),
  );

  const host: FakeHost = {
    url: server.url,
    state,
    handshakes,
    reports,
    calls,
    logged,
    unavailable: undefined,
    registrations,
    registerCalls,
    validTokens,
    nextReport(index = reports.length) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const report = reports[index];
          if (report) {
            clearTimeout(timer);
            waiters.delete(check);
            resolve(report);
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no ReportHealth #${index + 1} within 5000 ms`));
        }, 5000);
        waiters.add(check);
        check();
      });
    },
    async closeWhenIdle() {
      if (inFlight > 0) {
        await new Promise<void>((resolve) => {
          const done = () => {
            idle.delete(done);
            resolve();
          };
          idle.add(done);
        });
      }
      await server.close();
    },
    close: () => server.close(),
  };
  return host;
}

function seen<M>(message: M, ctx: HandlerContext): SeenCall<M> {
  return {
    message,
    runtimeId: ctx.requestHeader.get(RUNTIME_ID_HEADER),
    token: parseBearer(ctx.requestHeader.get(AUTHORIZATION_HEADER)),
    httpVersion: ctx.values.get(httpVersionKey),
    contentType: ctx.requestHeader.get("content-type"),
  };
}

/**
 * Starts `count` fake hosts that are replicas of one host: they share
 * identities, tokens and registrations.
 */
export async function startFakeReplicas(
  count: number,
  options: Omit<FakeHostOptions, "state"> = {},
): Promise<FakeHost[]> {
  const first = await startFakeHost(options);
  const replicas = [first];
  for (let i = 1; i < count; i++) {
    replicas.push(await startFakeHost({ ...options, state: first.state }));
  }
  return replicas;
}
