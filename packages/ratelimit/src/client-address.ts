import { type ContextValues, createContextKey } from "@connectrpc/connect";

/**
 * Context key under which the remote address of a call's connection is
 * stored by `attachClientAddress` (normalized: no port, no brackets, IPv4
 * instead of IPv4-mapped IPv6). Default `undefined`: unknown.
 */
export const clientAddressKey = createContextKey<string | undefined>(undefined, {
  description: "cpg client address",
});

/**
 * Returns the remote address stored for a call, or `undefined` when the host
 * did not wire `clientAddressContextValues` into its Connect adapter. Works
 * with `ctx.values` in handlers and `req.contextValues` in interceptors.
 */
export function getClientAddress(values: ContextValues): string | undefined {
  return values.get(clientAddressKey);
}

/**
 * Stores a remote address for a call, normalized with
 * {@link normalizeClientAddress}. An empty or missing address is not stored.
 */
export function setClientAddress(values: ContextValues, address: string | undefined): void {
  const normalized = address === undefined ? "" : normalizeClientAddress(address);
  if (normalized !== "") values.set(clientAddressKey, normalized);
}

const ipv4WithPort = /^(\d{1,3}(?:\.\d{1,3}){3}):\d+$/;
const bracketed = /^\[([^\]]+)\](?::\d+)?$/;
const ipv4Mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i;

/**
 * Normalizes an IP address for use as a rate-limit key: trims it, removes a
 * port (`1.2.3.4:5678`, `[::1]:443`) and brackets, turns IPv4-mapped IPv6
 * (`::ffff:1.2.3.4`) into plain IPv4 and lower-cases IPv6.
 *
 * @example
 * ```ts
 * normalizeClientAddress("::ffff:192.0.2.1"); // "192.0.2.1"
 * normalizeClientAddress("[2001:DB8::1]:443"); // "2001:db8::1"
 * ```
 */
export function normalizeClientAddress(address: string): string {
  let value = address.trim();
  const withPort = ipv4WithPort.exec(value);
  if (withPort) value = withPort[1]!;
  const inBrackets = bracketed.exec(value);
  if (inBrackets) value = inBrackets[1]!;
  const mapped = ipv4Mapped.exec(value);
  if (mapped) return mapped[1]!;
  return value.includes(":") ? value.toLowerCase() : value;
}

/**
 * Returns the left-most entry of an `X-Forwarded-For` header (the original
 * client as reported by the first proxy), normalized, or `undefined` when the
 * header is absent or empty. Only meaningful behind a proxy you trust: any
 * client can send this header.
 */
export function leftmostForwardedFor(header: string | null | undefined): string | undefined {
  if (header === null || header === undefined) return undefined;
  const comma = header.indexOf(",");
  const first = normalizeClientAddress(comma < 0 ? header : header.slice(0, comma));
  return first === "" ? undefined : first;
}
