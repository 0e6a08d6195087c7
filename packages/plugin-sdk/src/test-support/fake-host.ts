// A minimal stand-in for a host, for the SDK's own tests and README examples
// (the real host depends on the SDK, so the SDK cannot test against it). It
// behaves like a connect-plugin-go host: plain HTTP/1.1, HandshakeService,
// PluginLifecycle, ServiceRegistry, and a router that forwards
// /services/{type}/{provider}/{rest} to the provider's base_url. It records
// what plugins send. Not a reference for how a host should work: no rate
// limits, no policies, no expiry.
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
  type HandshakeRequest,
  type HandshakeResponse,
  type HandshakeResponseSchema,
  HandshakeService,
  PluginLifecycle,
  parseBearer,
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

export interface FakeHost {
  readonly url: string;
  readonly handshakes: SeenCall<HandshakeRequest>[];
  readonly reports: SeenCall<ReportHealthRequest>[];
  /** Current registrations, in order. */
  readonly registrations: FakeRegistration[];
  /** Every RegisterService call so far, including registrations removed since. */
  readonly registerCalls: FakeRegistration[];
  /** Tokens the host accepts (by token, the runtime id); other tokens are `unauthenticated`. */
  readonly validTokens: Map<string, string>;
  /** Resolves with ReportHealth number `index` (0-based) once it arrived. */
  nextReport(index?: number): Promise<SeenCall<ReportHealthRequest>>;
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
}

const httpVersionKey = createContextKey("");

export async function startFakeHost(options: FakeHostOptions = {}): Promise<FakeHost> {
  const handshakes: SeenCall<HandshakeRequest>[] = [];
  const reports: SeenCall<ReportHealthRequest>[] = [];
  const registrations: FakeRegistration[] = [];
  const registerCalls: FakeRegistration[] = [];
  const validTokens = new Map<string, string>();
  const waiters = new Set<() => void>();
  const wake = () => {
    for (const w of [...waiters]) w();
  };
  let nextRegistration = 1;

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
        const runtimeId = ctx.requestHeader.get(RUNTIME_ID_HEADER);
        handshakes.push(seen(req, ctx));
        const n = handshakes.length;
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
    router.service(PluginLifecycle, {
      reportHealth(req, ctx) {
        authenticate(ctx);
        reports.push(seen(req, ctx));
        wake();
        return {};
      },
    });
    router.service(ServiceRegistry, {
      registerService(req, ctx) {
        const runtimeId = authenticate(ctx);
        const id = `reg-${nextRegistration++}`;
        registrations.push({ id, runtimeId, request: req });
        registerCalls.push({ id, runtimeId, request: req });
        wake();
        return { registrationId: id };
      },
      unregisterService(req, ctx) {
        authenticate(ctx);
        const i = registrations.findIndex((r) => r.id === req.registrationId);
        if (i >= 0) registrations.splice(i, 1);
        wake();
        return {};
      },
      discoverService(req, ctx) {
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

  const api = connectNodeAdapter({
    routes,
    contextValues: (req) => createContextValues().set(httpVersionKey, req.httpVersion),
  });

  // /services/{type}/{provider}/{rest}: forwards to the provider's base_url,
  // with the caller's credentials replaced by its runtime id.
  const route = (req: http.IncomingMessage, res: http.ServerResponse) => {
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

  const server = await listenOnFreePort(
    http.createServer((req, res) => {
      if ((req.url ?? "").startsWith("/services/")) route(req, res);
      else api(req, res);
    }),
  );

  return {
    url: server.url,
    handshakes,
    reports,
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
    close: () => server.close(),
  };
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
