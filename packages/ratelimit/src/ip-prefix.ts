const hexGroup = /^[0-9a-f]{1,4}$/i;

function parseGroups(part: string): number[] | undefined {
  if (part === "") return [];
  const groups: number[] = [];
  for (const group of part.split(":")) {
    if (!hexGroup.test(group)) return undefined;
    groups.push(Number.parseInt(group, 16));
  }
  return groups;
}

/**
 * Expands an IPv6 address into its eight 16-bit groups, or returns
 * `undefined` when `address` is not a valid IPv6 address.
 */
function ipv6Groups(address: string): number[] | undefined {
  let value = address;
  const zone = value.indexOf("%");
  if (zone >= 0) value = value.slice(0, zone);
  if (!value.includes(":")) return undefined;
  const lastColon = value.lastIndexOf(":");
  const last = value.slice(lastColon + 1);
  if (last.includes(".")) {
    // Embedded IPv4 in the low 32 bits, e.g. 64:ff9b::192.0.2.1.
    const octets = last.split(".").map(Number);
    if (octets.length !== 4 || octets.some((o) => !Number.isInteger(o) || o < 0 || o > 255)) {
      return undefined;
    }
    const high = (octets[0]! << 8) | octets[1]!;
    const low = (octets[2]! << 8) | octets[3]!;
    value = `${value.slice(0, lastColon + 1)}${high.toString(16)}:${low.toString(16)}`;
  }
  const halves = value.split("::");
  if (halves.length > 2) return undefined;
  const head = parseGroups(halves[0]!);
  const rest = halves.length === 2 ? parseGroups(halves[1]!) : [];
  if (head === undefined || rest === undefined) return undefined;
  if (halves.length === 1) return head.length === 8 ? head : undefined;
  const zeros = 8 - head.length - rest.length;
  if (zeros < 1) return undefined;
  return [...head, ...new Array<number>(zeros).fill(0), ...rest];
}

/**
 * Returns the rate-limit key part for a client address: IPv4 addresses as
 * they are, IPv6 addresses reduced to their first `ipv6PrefixLength` bits
 * (`"2001:db8:1:2:0:0:0:0/64"`), because one IPv6 client usually owns a whole
 * /64 and could otherwise rotate addresses to escape its limit. Input that is
 * not IPv6 is returned unchanged.
 *
 * @private
 */
export function ipKeyPart(address: string, ipv6PrefixLength: number): string {
  if (ipv6PrefixLength >= 128) return address;
  const groups = ipv6Groups(address);
  if (groups === undefined) return address;
  let bits = ipv6PrefixLength;
  const masked = groups.map((group) => {
    const keep = Math.max(0, Math.min(16, bits));
    bits -= 16;
    return keep === 0 ? 0 : group & ((0xffff << (16 - keep)) & 0xffff);
  });
  return `${masked.map((g) => g.toString(16)).join(":")}/${ipv6PrefixLength}`;
}
