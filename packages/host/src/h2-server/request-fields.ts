// Header fields that mean something only on an HTTP/1.1 connection; a
// request that carries one is malformed in HTTP/2 (RFC 9113 §8.2.2).
const CONNECTION_SPECIFIC = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "upgrade",
]);

/**
 * Checks a request's header fields (names and values alternating, as the
 * HPACK decoder returns them) against RFC 9113 §8.2 and §8.3.1, and returns
 * what is wrong, or undefined for a well-formed request:
 * - `:method`, `:scheme` and `:path` exactly once (`:path` not empty),
 *   `:authority` at most once, no other pseudo-header, and every
 *   pseudo-header before the regular fields;
 * - regular field names in lowercase, none of the HTTP/1.1 connection
 *   headers, and `te` only as `trailers`;
 * - no CR, LF or NUL in a value, and no empty name.
 *
 * `CONNECT` requests (no `:scheme` and `:path`) are refused too: the host
 * serves no tunnels.
 */
export function checkRequestFields(fields: readonly string[]): string | undefined {
  let method = 0;
  let scheme = 0;
  let path = 0;
  let authority = 0;
  let regular = false;
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i]!;
    const value = fields[i + 1]!;
    if (name.length === 0) return "an empty header name";
    if (hasForbiddenValueChar(value)) return `a control character in the value of "${name}"`;
    if (name.charCodeAt(0) === 58 /* ":" */) {
      if (regular) return `pseudo-header "${name}" after a regular header`;
      switch (name) {
        case ":method":
          method++;
          break;
        case ":scheme":
          scheme++;
          break;
        case ":path":
          if (value.length === 0) return "an empty :path";
          path++;
          break;
        case ":authority":
          authority++;
          break;
        default:
          return `pseudo-header "${name}" in a request`;
      }
      continue;
    }
    regular = true;
    const wrong = checkRegularField(name, value);
    if (wrong !== undefined) return wrong;
  }
  if (method !== 1 || scheme !== 1 || path !== 1 || authority > 1) {
    return "a request needs exactly one :method, :scheme and :path, and at most one :authority";
  }
  return undefined;
}

/**
 * Checks request trailers (RFC 9113 §8.1): regular fields only, under the
 * same rules as a request's regular fields. Returns what is wrong, or
 * undefined.
 */
export function checkTrailerFields(fields: readonly string[]): string | undefined {
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i]!;
    const value = fields[i + 1]!;
    if (name.length === 0) return "an empty header name";
    if (name.charCodeAt(0) === 58 /* ":" */) return `pseudo-header "${name}" in trailers`;
    if (hasForbiddenValueChar(value)) return `a control character in the value of "${name}"`;
    const wrong = checkRegularField(name, value);
    if (wrong !== undefined) return wrong;
  }
  return undefined;
}

function checkRegularField(name: string, value: string): string | undefined {
  if (hasUppercase(name)) return `header name "${name}" is not lowercase`;
  if (CONNECTION_SPECIFIC.has(name)) return `connection-specific header "${name}"`;
  if (name === "te" && value !== "trailers") return 'a "te" header other than "trailers"';
  return undefined;
}

function hasUppercase(name: string): boolean {
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c >= 65 && c <= 90) return true;
  }
  return false;
}

function hasForbiddenValueChar(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0 || c === 10 || c === 13) return true;
  }
  return false;
}
