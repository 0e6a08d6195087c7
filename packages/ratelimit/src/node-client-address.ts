import type { IncomingMessage } from "node:http";
import type { Http2ServerRequest } from "node:http2";
import { type ContextValues, createContextValues } from "@connectrpc/connect";
import { setClientAddress } from "./client-address.js";

/**
 * A Node.js server request from `node:http`, `node:https` or `node:http2`
 * (compatibility API), as handed to `connectNodeAdapter`'s `contextValues`.
 */
export type NodeServerRequest = IncomingMessage | Http2ServerRequest;

/**
 * Stores the remote address of the request's connection in `values` (see
 * `getClientAddress`) and returns `values`. Interceptors cannot see sockets,
 * so the host calls this where it builds a call's context values. Headers are
 * never consulted.
 */
export function attachClientAddress(
  values: ContextValues,
  request: NodeServerRequest,
): ContextValues {
  setClientAddress(values, request.socket?.remoteAddress);
  return values;
}

/**
 * Creates context values holding the request's remote address: pass it as
 * `connectNodeAdapter({ contextValues: clientAddressContextValues })` so that
 * the rate-limit interceptor can key unauthenticated callers by IP.
 *
 * @example
 * ```ts
 * const handler = connectNodeAdapter({
 *   routes,
 *   interceptors: [rateLimit],
 *   contextValues: clientAddressContextValues,
 * });
 * ```
 */
export function clientAddressContextValues(request: NodeServerRequest): ContextValues {
  return attachClientAddress(createContextValues(), request);
}
