import type * as http from "node:http";
import type * as http2 from "node:http2";
import { CONNECTION_HEADERS } from "@cpg/plugin-sdk/internal";
import { AUTHORIZATION_HEADER, CALLER_ID_HEADER, RUNTIME_ID_HEADER } from "@cpg/protocol";

// Request headers that never reach a provider: hop-by-hop headers, and
// everything that identifies the caller (the router sets its own).
const DROPPED_REQUEST_HEADERS = new Set([
  ...CONNECTION_HEADERS,
  "http2-settings",
  "te",
  AUTHORIZATION_HEADER,
  "proxy-authorization",
  "x-api-key",
  RUNTIME_ID_HEADER,
  CALLER_ID_HEADER,
  "connect-timeout-ms",
  "grpc-timeout",
]);

const DROPPED_RESPONSE_HEADERS = new Set(CONNECTION_HEADERS);

type Headers = http.IncomingHttpHeaders | http2.IncomingHttpHeaders;

/**
 * The caller's request headers a provider may see: no pseudo-headers, no
 * hop-by-hop headers, no credentials or identity headers, no deadline
 * headers (the router sets its own). A new object; one pass, no copies.
 */
export function requestHeaders(headers: Headers): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  const names = Object.keys(headers);
  for (let i = 0; i < names.length; i++) {
    const name = names[i]!;
    const value = headers[name];
    if (value === undefined || name.charCodeAt(0) === 58 /* ":" */) continue;
    if (DROPPED_REQUEST_HEADERS.has(name)) continue;
    out[name] = value;
  }
  return out;
}

/**
 * A provider's response headers (or trailers) the caller may see: no
 * pseudo-headers and no connection headers. With `status`, the result is a
 * complete HTTP/2 header block (`:status` included).
 */
export function responseHeaders(
  headers: Headers,
  status: number | undefined,
): Record<string, string | string[] | number> {
  const out: Record<string, string | string[] | number> = {};
  if (status !== undefined) out[":status"] = status;
  const names = Object.keys(headers);
  for (let i = 0; i < names.length; i++) {
    const name = names[i]!;
    const value = headers[name];
    if (value === undefined || name.charCodeAt(0) === 58 /* ":" */) continue;
    if (DROPPED_RESPONSE_HEADERS.has(name)) continue;
    out[name] = value;
  }
  return out;
}

/**
 * The request headers of a forwarded call as an HTTP/2 field list (names and
 * values alternating): the pseudo-headers first, then `headers` (already
 * filtered by {@link requestHeaders}), a field per value of a list.
 */
export function requestFields(
  method: string,
  scheme: string,
  authority: string,
  path: string,
  headers: Record<string, string | string[]>,
): string[] {
  const fields = [":method", method, ":scheme", scheme, ":authority", authority, ":path", path];
  const names = Object.keys(headers);
  for (let i = 0; i < names.length; i++) {
    const name = names[i]!;
    const value = headers[name]!;
    if (typeof value === "string") fields.push(name, value);
    else for (const v of value) fields.push(name, v);
  }
  return fields;
}

/**
 * {@link responseHeaders} for a field list from the router's HTTP/2 client
 * (names and values alternating): a name that comes more than once keeps
 * every value, as a list.
 */
export function responseFieldHeaders(
  fields: readonly string[],
  status: number | undefined,
): Record<string, string | string[] | number> {
  const out: Record<string, string | string[] | number> = {};
  if (status !== undefined) out[":status"] = status;
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i]!;
    if (name.charCodeAt(0) === 58 /* ":" */ || DROPPED_RESPONSE_HEADERS.has(name)) continue;
    const value = fields[i + 1]!;
    const seen = out[name];
    if (seen === undefined) out[name] = value;
    else if (Array.isArray(seen)) seen.push(value);
    else out[name] = [seen as string, value];
  }
  return out;
}

/** The value of the first field called `name` in a field list, if any. */
export function fieldValue(fields: readonly string[], name: string): string | undefined {
  for (let i = 0; i < fields.length; i += 2) {
    if (fields[i] === name) return fields[i + 1];
  }
  return undefined;
}
