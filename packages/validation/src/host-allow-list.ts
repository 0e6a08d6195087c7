import { ipv4FromMapped, parseIPv4, parseIPv6, samePrefix } from "./ip-address.js";

/** One compiled allow-list entry. */
type HostRule =
  | { readonly kind: "name"; readonly name: string }
  | { readonly kind: "ip"; readonly bytes: readonly number[]; readonly prefix: number };

/**
 * A compiled host allow-list: tells whether a URL host name (as `URL.hostname`
 * serialises it) is allowed.
 *
 * @private Built by {@link compileHostAllowList}.
 */
export type HostAllowList = (hostname: string) => boolean;

const LABEL = "[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?";
const HOST_NAME = new RegExp(`^${LABEL}(?:\\.${LABEL})*$`);

/**
 * Compiles allow-list entries. Each entry is one of:
 * - a host name, matched exactly and case-insensitively (`plugins.internal`,
 *   `localhost`; IDNs in their `xn--` form);
 * - an IPv4 or IPv6 address (`10.0.0.7`, `::1`, `[fd00::1]`);
 * - a CIDR block (`10.0.0.0/8`, `fd00::/8`).
 *
 * IPv4-mapped IPv6 hosts (`[::ffff:10.0.0.7]`) also match IPv4 entries.
 *
 * @throws TypeError naming the entry when one is not of these forms.
 * @private Used by the validators; users call {@link isHostAllowed}.
 */
export function compileHostAllowList(entries: readonly string[]): HostAllowList {
  if (!Array.isArray(entries)) {
    throw new TypeError("allowedHosts must be an array of host names, IP addresses or CIDR blocks");
  }
  const rules = entries.map(compileEntry);
  return (hostname) => {
    const host = parseHost(hostname);
    if (host === undefined) {
      return false;
    }
    return rules.some((rule) => {
      if (rule.kind === "name") {
        return host.name === rule.name;
      }
      return host.ips.some((ip) => samePrefix(ip, rule.bytes, rule.prefix));
    });
  };
}

/**
 * Whether the host of `url` is in `allowedHosts`. Entries are host names
 * (exact, case-insensitive), IPv4/IPv6 addresses or CIDR blocks
 * (`10.0.0.0/8`, `fd00::/8`); IPv4-mapped IPv6 hosts also match IPv4 entries.
 * Returns `false` when `url` is not an absolute URL. An empty list allows
 * nothing.
 *
 * @throws TypeError when an entry is not a host name, IP address or CIDR block.
 *
 * @example
 * ```ts
 * isHostAllowed("http://10.0.0.7:8082", ["10.0.0.0/8"]); // true
 * isHostAllowed("http://evil.example", ["plugins.internal"]); // false
 * ```
 */
export function isHostAllowed(url: string | URL, allowedHosts: readonly string[]): boolean {
  const allows = compileHostAllowList(allowedHosts);
  let hostname: string;
  try {
    hostname = (typeof url === "string" ? new URL(url) : url).hostname;
  } catch {
    return false;
  }
  return allows(hostname);
}

function compileEntry(entry: unknown): HostRule {
  if (typeof entry !== "string") {
    throw new TypeError(
      `allowedHosts entry ${String(entry)} must be a string: a host name, IP address or CIDR block`,
    );
  }
  const invalid = () =>
    new TypeError(
      `allowedHosts entry ${JSON.stringify(entry)} is not a host name, IP address or CIDR block (e.g. "plugins.internal", "10.0.0.7", "10.0.0.0/8", "fd00::/8")`,
    );
  const slash = entry.indexOf("/");
  if (slash !== -1) {
    const bytes = parseIp(entry.slice(0, slash));
    const prefixText = entry.slice(slash + 1);
    if (bytes === undefined || !/^(0|[1-9][0-9]{0,2})$/.test(prefixText)) {
      throw invalid();
    }
    const prefix = Number(prefixText);
    if (prefix > bytes.length * 8) {
      throw invalid();
    }
    return { kind: "ip", bytes, prefix };
  }
  const bytes = parseIp(entry);
  if (bytes !== undefined) {
    return { kind: "ip", bytes, prefix: bytes.length * 8 };
  }
  const name = normaliseName(entry);
  // A last label of digits only would be read as an IPv4 address by URL parsers.
  if (!HOST_NAME.test(name) || name.length > 253 || /(^|\.)[0-9]+$/.test(name)) {
    throw invalid();
  }
  return { kind: "name", name };
}

function parseIp(text: string): number[] | undefined {
  if (text.startsWith("[") && text.endsWith("]")) {
    return parseIPv6(text.slice(1, -1));
  }
  return parseIPv4(text) ?? parseIPv6(text);
}

function parseHost(hostname: string): { name: string; ips: number[][] } | undefined {
  if (hostname === "") {
    return undefined;
  }
  if (hostname.startsWith("[")) {
    const v6 = hostname.endsWith("]") ? parseIPv6(hostname.slice(1, -1)) : undefined;
    if (v6 === undefined) {
      return undefined;
    }
    const v4 = ipv4FromMapped(v6);
    return { name: "", ips: v4 === undefined ? [v6] : [v6, v4] };
  }
  const v4 = parseIPv4(hostname);
  if (v4 !== undefined) {
    return { name: "", ips: [v4] };
  }
  return { name: normaliseName(hostname), ips: [] };
}

function normaliseName(name: string): string {
  const lower = name.toLowerCase();
  return lower.endsWith(".") ? lower.slice(0, -1) : lower;
}
