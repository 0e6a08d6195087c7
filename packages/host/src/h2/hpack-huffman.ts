// An import cycle with hpack-decoder.ts (which imports huffmanDecode), harmless: neither module
// uses the other while it loads.
import { HpackError } from "./hpack-error.js";

/*
 * The Huffman code of HPACK (RFC 7541 Appendix B). The code is canonical:
 * within one length the codes of the symbols follow each other in symbol
 * order, and each length starts right after the last code of the shorter
 * ones. So the bit lengths alone define it, and the codes are rebuilt from
 * them when this module loads.
 *
 * Decoding is a state machine driven by nibbles (4 bits). Its states are the
 * 256 inner nodes of the code tree (the root is 0). No code is shorter than 5
 * bits, so one nibble completes at most one symbol: for each state and nibble
 * one table entry gives the next state and the symbol completed, if any.
 */

/** Bit lengths of the codes of symbols 0-255 and EOS (256), from RFC 7541 Appendix B. */
// biome-ignore format: a table
const CODE_LENGTHS = [
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, //   0- 15
  28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28, //  16- 31
   6, 10, 10, 12, 13,  6,  8, 11, 10, 10,  8, 11,  8,  6,  6,  6, //  32- 47 ' ' - '/'
   5,  5,  5,  6,  6,  6,  6,  6,  6,  6,  7,  8, 15,  6, 12, 10, //  48- 63 '0' - '?'
  13,  6,  7,  7,  7,  7,  7,  7,  7,  7,  7,  7,  7,  7,  7,  7, //  64- 79 '@' - 'O'
   7,  7,  7,  7,  7,  7,  7,  7,  8,  7,  8, 13, 19, 13, 14,  6, //  80- 95 'P' - '_'
  15,  5,  6,  5,  6,  5,  6,  6,  6,  5,  7,  7,  6,  6,  6,  5, //  96-111 '`' - 'o'
   6,  7,  6,  5,  5,  6,  7,  7,  7,  7,  7, 15, 11, 14, 13, 28, // 112-127 'p' - DEL
  20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, // 128-143
  24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24, // 144-159
  22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, // 160-175
  21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23, // 176-191
  26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, // 192-207
  19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27, // 208-223
  20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23, // 224-239
  26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26, // 240-255
  30,                                                             // EOS
];

const EOS = 256;
const SYMBOLS = 257;
const MAX_CODE_LENGTH = 30;

/** The code of each symbol, right-aligned in `codeLengths[symbol]` bits. */
const codes = new Uint32Array(SYMBOLS);
/** The bit length of each symbol's code. */
const codeLengths = Uint8Array.from(CODE_LENGTHS);

/** A transition completes a symbol: its octet is in the low 8 bits. */
const EMIT = 0x1_0000;
/** A transition completes EOS, which must not appear in a string (RFC 7541 §5.2). */
const FAIL = 0x2_0000;
const STATES = 256;
/** For `state << 4 | nibble`: the next state in bits 8-15, the octet in bits 0-7, and flags. */
const transitions = new Uint32Array(STATES * 16);
/** A string may end in this state: at the root, or at most 7 bits along the start of EOS. */
const END_OK = 0;
/** Ending here leaves more than 7 bits of padding. */
const END_TOO_LONG = 1;
/** Ending here leaves padding that is not the start of EOS (all ones). */
const END_NOT_EOS = 2;
/** For each state, what ending the string there means: END_OK, END_TOO_LONG or END_NOT_EOS. */
const endStates = new Uint8Array(STATES);

buildCodes();
buildDecoder();

function buildCodes(): void {
  let code = 0;
  for (let length = 1; length <= MAX_CODE_LENGTH; length++) {
    for (let symbol = 0; symbol < SYMBOLS; symbol++) {
      if (codeLengths[symbol] === length) {
        codes[symbol] = code++;
      }
    }
    code *= 2;
  }
}

function buildDecoder(): void {
  // The code tree: for inner node n, children[2n + bit] is the inner node the
  // bit leads to, or -1 - symbol for a leaf. 0 means "not built yet"; the
  // root is node 0 and is never a child.
  const children = new Int16Array(STATES * 2);
  const depth = new Uint8Array(STATES);
  const onOnesPath = new Uint8Array(STATES);
  onOnesPath[0] = 1;
  let nodes = 1;
  for (let symbol = 0; symbol < SYMBOLS; symbol++) {
    const length = codeLengths[symbol]!;
    const code = codes[symbol]!;
    let node = 0;
    for (let i = length - 1; i > 0; i--) {
      const bit = (code >>> i) & 1;
      let next = children[node * 2 + bit]!;
      if (next === 0) {
        next = nodes++;
        children[node * 2 + bit] = next;
        depth[next] = depth[node]! + 1;
        onOnesPath[next] = onOnesPath[node]! & bit;
      }
      node = next;
    }
    children[node * 2 + (code & 1)] = -1 - symbol;
  }
  for (let state = 0; state < STATES; state++) {
    endStates[state] =
      onOnesPath[state] === 0 ? END_NOT_EOS : depth[state]! > 7 ? END_TOO_LONG : END_OK;
    for (let nibble = 0; nibble < 16; nibble++) {
      let node = state;
      let entry = 0;
      for (let i = 3; i >= 0; i--) {
        const child = children[node * 2 + ((nibble >>> i) & 1)]!;
        if (child >= 0) {
          node = child;
        } else if (child === -1 - EOS) {
          entry = FAIL;
          break;
        } else {
          entry = EMIT | (-1 - child);
          node = 0;
        }
      }
      transitions[(state << 4) | nibble] = entry | (node << 8);
    }
  }
}

/**
 * Where decoded octets are collected before they become a string; grown on
 * demand and kept, so decoding allocates nothing but the string.
 */
let scratch = Buffer.allocUnsafe(256);

/**
 * Decodes the Huffman-coded octets `bytes[start, end)` (RFC 7541 §5.2) into a
 * latin1 string, one character per decoded octet.
 *
 * @throws HpackError if the string contains EOS, or its padding is longer than
 * 7 bits or not made of the leading bits of EOS (all ones).
 */
export function huffmanDecode(bytes: Uint8Array, start: number, end: number): string {
  // No code is shorter than 5 bits.
  const most = (((end - start) * 8) / 5) | 0;
  if (scratch.length < most) {
    scratch = Buffer.allocUnsafe(Math.max(most, scratch.length * 2));
  }
  const out = scratch;
  let length = 0;
  let state = 0;
  for (let i = start; i < end; i++) {
    const octet = bytes[i]!;
    let t = transitions[(state << 4) | (octet >>> 4)]!;
    if (t & EMIT) {
      out[length++] = t & 0xff;
    } else if (t & FAIL) {
      throw new HpackError("HPACK Huffman string contains EOS");
    }
    t = transitions[((t & 0xff00) >>> 4) | (octet & 0xf)]!;
    if (t & EMIT) {
      out[length++] = t & 0xff;
    } else if (t & FAIL) {
      throw new HpackError("HPACK Huffman string contains EOS");
    }
    state = (t >>> 8) & 0xff;
  }
  const ending = endStates[state];
  if (ending !== END_OK) {
    throw new HpackError(
      ending === END_TOO_LONG
        ? "HPACK Huffman string has more than 7 bits of padding"
        : "HPACK Huffman string has padding that is not the start of EOS",
    );
  }
  return out.toString("latin1", 0, length);
}

/**
 * Huffman-codes a latin1 string (RFC 7541 §5.2): each character's low octet
 * gets its code from Appendix B, and the last octet is padded with ones.
 * Returns the coded octets, without the string literal's length prefix.
 */
export function huffmanEncode(value: string): Uint8Array {
  let bits = 0;
  for (let i = 0; i < value.length; i++) {
    bits += codeLengths[value.charCodeAt(i) & 0xff]!;
  }
  const out = new Uint8Array(Math.ceil(bits / 8));
  // `pending` holds the `pendingBits` (< 8) bits not written yet; a code adds
  // at most 30, which stays exact in a double.
  let pending = 0;
  let pendingBits = 0;
  let at = 0;
  for (let i = 0; i < value.length; i++) {
    const symbol = value.charCodeAt(i) & 0xff;
    const length = codeLengths[symbol]!;
    pending = pending * 2 ** length + codes[symbol]!;
    pendingBits += length;
    while (pendingBits >= 8) {
      pendingBits -= 8;
      const unit = 2 ** pendingBits;
      const octet = Math.floor(pending / unit);
      out[at++] = octet;
      pending -= octet * unit;
    }
  }
  if (pendingBits > 0) {
    out[at] = (pending << (8 - pendingBits)) | (0xff >>> pendingBits);
  }
  return out;
}
