/**
 * Parses a dotted-quad IPv4 address (`10.0.0.7`) into its 4 bytes. Strict:
 * exactly four decimal parts of 0..255 without leading zeros, so that no
 * entry is read differently by another parser (no octal, hex or short forms).
 * Returns `undefined` for anything else.
 */
export function parseIPv4(value: string): number[] | undefined {
  const parts = value.split(".");
  if (parts.length !== 4) {
    return undefined;
  }
  const bytes: number[] = [];
  for (const part of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(part)) {
      return undefined;
    }
    const n = Number(part);
    if (n > 255) {
      return undefined;
    }
    bytes.push(n);
  }
  return bytes;
}

/**
 * Parses an IPv6 address without brackets or zone (`fd00::1`,
 * `::ffff:10.0.0.1`) into its 16 bytes. Returns `undefined` for anything else.
 */
export function parseIPv6(value: string): number[] | undefined {
  if (value.length < 2 || value.length > 45) {
    return undefined;
  }
  const gap = value.indexOf("::");
  if (gap !== -1 && value.indexOf("::", gap + 1) !== -1) {
    return undefined;
  }
  const head = gap === -1 ? value : value.slice(0, gap);
  const tail = gap === -1 ? "" : value.slice(gap + 2);
  const headGroups = parseGroups(head, gap === -1);
  const tailGroups = parseGroups(tail, true);
  if (headGroups === undefined || tailGroups === undefined) {
    return undefined;
  }
  const count = headGroups.length + tailGroups.length;
  if (gap === -1 ? count !== 8 : count > 7) {
    return undefined;
  }
  const groups = [...headGroups, ...new Array<number>(8 - count).fill(0), ...tailGroups];
  const bytes: number[] = [];
  for (const group of groups) {
    bytes.push(group >> 8, group & 0xff);
  }
  return bytes;
}

/**
 * Parses colon-separated hex groups; the last one may be a dotted-quad IPv4
 * address (two groups) when `allowIPv4Tail` is set.
 */
function parseGroups(part: string, allowIPv4Tail: boolean): number[] | undefined {
  if (part === "") {
    return [];
  }
  const pieces = part.split(":");
  const groups: number[] = [];
  for (let i = 0; i < pieces.length; i++) {
    const piece = pieces[i]!;
    if (allowIPv4Tail && i === pieces.length - 1 && piece.includes(".")) {
      const v4 = parseIPv4(piece);
      if (v4 === undefined) {
        return undefined;
      }
      groups.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      continue;
    }
    if (!/^[0-9a-fA-F]{1,4}$/.test(piece)) {
      return undefined;
    }
    groups.push(Number.parseInt(piece, 16));
  }
  return groups;
}

/**
 * The IPv4 address embedded in an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`),
 * or `undefined` when `bytes` is not one.
 */
export function ipv4FromMapped(bytes: readonly number[]): number[] | undefined {
  if (bytes.length !== 16) {
    return undefined;
  }
  for (let i = 0; i < 10; i++) {
    if (bytes[i] !== 0) {
      return undefined;
    }
  }
  if (bytes[10] !== 0xff || bytes[11] !== 0xff) {
    return undefined;
  }
  return bytes.slice(12);
}

/**
 * Whether the first `prefix` bits of `a` and `b` (same length) are equal.
 */
export function samePrefix(a: readonly number[], b: readonly number[], prefix: number): boolean {
  if (a.length !== b.length) {
    return false;
  }
  let bits = prefix;
  for (let i = 0; i < a.length && bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((a[i]! & mask) !== (b[i]! & mask)) {
      return false;
    }
  }
  return true;
}
