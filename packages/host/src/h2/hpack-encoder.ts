import { STATIC_TABLE_LENGTH, staticTableNames, staticTableValues } from "./hpack-static-table.js";

/** The names sent as "never indexed" literals by default: credentials (RFC 7541 §7.1.3). */
const DEFAULT_SENSITIVE: ReadonlySet<string> = new Set([
  "authorization",
  "proxy-authorization",
  "cookie",
  "set-cookie",
]);

/** A name of the static table: its first index, and the index of each of its values. */
interface StaticName {
  readonly index: number;
  readonly values: Map<string, number>;
}

/** The static table by name. */
const staticNames = new Map<string, StaticName>();
for (let index = 1; index <= STATIC_TABLE_LENGTH; index++) {
  const name = staticTableNames[index]!;
  let entry = staticNames.get(name);
  if (entry === undefined) {
    entry = { index, values: new Map() };
    staticNames.set(name, entry);
  }
  entry.values.set(staticTableValues[index]!, index);
}

/** A field's representation in `plan`: an indexed field (§6.1), the index in the low bits. */
const INDEXED = 0x100;
/**
 * A literal never indexed (§6.2.3); without this flag or INDEXED, a literal without indexing
 * (§6.2.2). The name index, or 0 for a literal name, is in the low bits.
 */
const NEVER_INDEXED = 0x200;

/** The representation chosen for each field by the first pass; grown on demand and reused. */
let plan = new Uint16Array(64);

/** Below this length a loop copies a string: cheaper than `Buffer#write`, a native call. */
const SHORT_STRING = 16;

/**
 * Encodes a header list as one HPACK block without the dynamic table and without Huffman coding:
 * exact static-table matches (e.g. ":method: POST", ":scheme: https") as indexed fields, otherwise
 * literal without indexing (with the static name index when the name is in the static table), and
 * "never indexed" literals for names in `sensitive` (default: authorization, proxy-authorization,
 * cookie, set-cookie). fields: names (lowercase) and values alternating (an even number of
 * strings).
 *
 * Since it never adds to the dynamic table, the block is valid whatever SETTINGS_HEADER_TABLE_SIZE
 * the peer sets. Names and values are written as latin1, one octet per character (a character
 * above U+00FF loses its high bits): callers pass validated header fields.
 *
 * @example
 * const block = encodeHeaderBlock([":method", "POST", ":scheme", "https", ":path", "/pkg.S/M"]);
 */
export function encodeHeaderBlock(
  fields: readonly string[],
  sensitive: ReadonlySet<string> = DEFAULT_SENSITIVE,
): Buffer {
  const fieldCount = fields.length >>> 1;
  if (plan.length < fieldCount) {
    plan = new Uint16Array(Math.max(fieldCount, plan.length * 2));
  }
  let length = 0;
  for (let i = 0; i < fieldCount; i++) {
    const name = fields[2 * i]!;
    const value = fields[2 * i + 1]!;
    const entry = staticNames.get(name);
    const nameIndex = entry === undefined ? 0 : entry.index;
    if (sensitive.has(name)) {
      plan[i] = NEVER_INDEXED | nameIndex;
      length += literalLength(nameIndex, name, value);
      continue;
    }
    const fieldIndex = entry?.values.get(value);
    if (fieldIndex !== undefined) {
      plan[i] = INDEXED | fieldIndex;
      length += 1; // every static index is below 127, the 7-bit prefix's limit
      continue;
    }
    plan[i] = nameIndex;
    length += literalLength(nameIndex, name, value);
  }

  const out = Buffer.allocUnsafe(length);
  let at = 0;
  for (let i = 0; i < fieldCount; i++) {
    const representation = plan[i]!;
    const index = representation & 0xff;
    if (representation & INDEXED) {
      out[at++] = 0x80 | index;
      continue;
    }
    at = writeInteger(out, at, representation & NEVER_INDEXED ? 0x10 : 0x00, 0x0f, index);
    if (index === 0) {
      at = writeString(out, at, fields[2 * i]!);
    }
    at = writeString(out, at, fields[2 * i + 1]!);
  }
  return out;
}

/** Octets of a literal without or never indexed (4-bit name index prefix), with raw strings. */
function literalLength(nameIndex: number, name: string, value: string): number {
  let length = integerLength(nameIndex, 0x0f) + integerLength(value.length, 0x7f) + value.length;
  if (nameIndex === 0) {
    length += integerLength(name.length, 0x7f) + name.length;
  }
  return length;
}

/** Octets of an integer with the prefix `prefixMask` (2^N - 1) (RFC 7541 §5.1). */
function integerLength(value: number, prefixMask: number): number {
  if (value < prefixMask) {
    return 1;
  }
  let length = 2;
  for (let rest = value - prefixMask; rest >= 128; rest = Math.floor(rest / 128)) {
    length++;
  }
  return length;
}

/**
 * Writes an integer with the prefix `prefixMask` (2^N - 1) after the high bits `flags`; returns
 * the next position.
 */
function writeInteger(
  out: Buffer,
  at: number,
  flags: number,
  prefixMask: number,
  value: number,
): number {
  if (value < prefixMask) {
    out[at++] = flags | value;
    return at;
  }
  out[at++] = flags | prefixMask;
  let rest = value - prefixMask;
  while (rest >= 128) {
    out[at++] = (rest % 128) | 0x80;
    rest = Math.floor(rest / 128);
  }
  out[at++] = rest;
  return at;
}

/** Writes a raw (not Huffman-coded) string literal in latin1; returns the next position. */
function writeString(out: Buffer, at: number, value: string): number {
  const length = value.length;
  at = writeInteger(out, at, 0x00, 0x7f, length);
  if (length < SHORT_STRING) {
    for (let i = 0; i < length; i++) {
      out[at + i] = value.charCodeAt(i);
    }
  } else {
    out.write(value, at, length, "latin1");
  }
  return at + length;
}
