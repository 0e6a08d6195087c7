import { Code, ConnectError, type ConnectRouter, createConnectRouter } from "@connectrpc/connect";
import type { UniversalHandler, UniversalHandlerOptions } from "@connectrpc/connect/protocol";
import {
  type ConnectNodeAdapterOptions,
  compressionBrotli,
  compressionGzip,
  universalRequestFromNodeRequest,
  universalResponseToNodeResponse,
} from "@connectrpc/connect-node";
import { RequestContextValues, strictRequestDecoding } from "./node-connect-adapter-decoding.js";
import {
  type ResponseRewriteOptions,
  rewriteUndecodableResponse,
} from "./node-connect-adapter-response.js";

/**
 * Options of {@link createNodeConnectAdapter}: exactly those of connect-node's
 * `connectNodeAdapter` (`routes`, `interceptors`, `contextValues`, `fallback`
 * (default: an empty 404), `requestPathPrefix` (default: none),
 * `acceptCompression` (default: gzip and brotli), `readMaxBytes` (default:
 * 0xffffffff), protocol switches, ...).
 *
 * @private
 */
export type NodeConnectAdapterOptions = ConnectNodeAdapterOptions;

/**
 * A Node request handler for HTTP/1.1 and HTTP/2, as `connectNodeAdapter`
 * returns.
 *
 * @private
 */
export type NodeConnectAdapter = NonNullable<ConnectNodeAdapterOptions["fallback"]>;

/**
 * A drop-in replacement for connect-node's `connectNodeAdapter` that answers a
 * request message that does not decode with `invalid_argument` ("invalid
 * request message: <decoder detail>") instead of connect-es's `internal`
 * "parse binary: ...", on every protocol (Connect, gRPC, gRPC-Web), codec and
 * method kind, including a bad message in the middle of a client or bidi
 * stream. Errors raised by handlers keep their code, `internal` included.
 * Messages are decoded once, by connect-es.
 *
 * Everything else is `connectNodeAdapter`'s behaviour: path matching (query
 * ignored) under `requestPathPrefix`, `fallback`, `contextValues`, limits and
 * compression. The caller's options object is not modified.
 *
 * @example
 * ```ts
 * const handler = createNodeConnectAdapter({
 *   routes: (router) => router.service(KVService, impl),
 *   interceptors: [auth],
 * });
 * http2.createServer(handler).listen(8080);
 * ```
 *
 * @private
 */
export function createNodeConnectAdapter(options: NodeConnectAdapterOptions): NodeConnectAdapter {
  const acceptCompression = options.acceptCompression ?? [compressionGzip, compressionBrotli];
  const router = createConnectRouter({
    ...options,
    acceptCompression,
    interceptors: [strictRequestDecoding, ...(options.interceptors ?? [])],
  });
  options.routes(withStrictDecoding(router));
  const prefix = options.requestPathPrefix ?? "";
  const paths = new Map<string, UniversalHandler>();
  for (const handler of router.handlers) paths.set(prefix + handler.requestPath, handler);
  const fallback = options.fallback ?? notFound;
  const rewrite: ResponseRewriteOptions = {
    acceptCompression,
    readMaxBytes: options.readMaxBytes ?? 0xffffffff,
    jsonOptions: options.jsonOptions,
  };

  return function nodeConnectAdapter(req, res) {
    // Strip the query when matching paths.
    const handler = paths.get(req.url?.split("?", 2)[0] ?? "");
    if (!handler) {
      fallback(req, res);
      return;
    }
    const values = new RequestContextValues(options.contextValues?.(req));
    const unary = handler.method.methodKind === "unary";
    handler(universalRequestFromNodeRequest(req, res, undefined, values))
      .then(async (answer) => {
        // A unary call that never reached the interceptors failed on its request.
        const checked =
          unary && !values.reachedInterceptors
            ? await rewriteUndecodableResponse(answer, rewrite)
            : answer;
        await universalResponseToNodeResponse(checked, res);
      })
      .catch((reason: unknown) => {
        if (ConnectError.from(reason).code === Code.Aborted) return;
        console.error(
          `handler for rpc ${handler.method.name} of ${handler.service.typeName} failed`,
          reason,
        );
      });
  };
}

const notFound: NodeConnectAdapter = (_req, res) => {
  res.writeHead(404);
  res.end();
};

// The router handed to `routes`: services and RPCs registered with their own
// `interceptors` (which replace the adapter's) still get strict decoding first.
function withStrictDecoding(router: ConnectRouter): ConnectRouter {
  const first = (options?: Partial<UniversalHandlerOptions>) =>
    options === undefined || !("interceptors" in options)
      ? options
      : { ...options, interceptors: [strictRequestDecoding, ...(options.interceptors ?? [])] };
  const facade = {
    get handlers() {
      return router.handlers;
    },
    service(service, implementation, options) {
      router.service(service, implementation, first(options));
      return this;
    },
    rpc(method, impl, options) {
      router.rpc(method, impl, first(options));
      return this;
    },
  } satisfies ConnectRouter;
  return facade;
}
