import { describe, expect, it } from "vitest";
import { HpackError } from "./hpack-error.js";
import { huffmanDecode, huffmanEncode } from "./hpack-huffman.js";

function hex(text: string): Uint8Array {
  return Uint8Array.from(Buffer.from(text.replace(/\s+/g, ""), "hex"));
}

function decodeAll(bytes: Uint8Array): string {
  return huffmanDecode(bytes, 0, bytes.length);
}

/** Packs codes given as [code, bit length] MSB first, padding the last octet with `padBit`. */
function pack(codes: readonly (readonly [number, number])[], padBit: 0 | 1 = 1): Uint8Array {
  let bits = "";
  for (const [code, length] of codes) {
    bits += code.toString(2).padStart(length, "0");
  }
  while (bits.length % 8 !== 0) {
    bits += String(padBit);
  }
  const out = new Uint8Array(bits.length / 8);
  for (let i = 0; i < out.length; i++) {
    out[i] = Number.parseInt(bits.slice(i * 8, i * 8 + 8), 2);
  }
  return out;
}

const EOS: readonly [number, number] = [0x3fffffff, 30];
const ZERO: readonly [number, number] = [0x0, 5]; // '0'
const A: readonly [number, number] = [0x3, 5]; // 'a'

/** Strings and their Huffman coding from RFC 7541 Appendix C.4 and C.6. */
const rfcExamples: readonly (readonly [string, string])[] = [
  ["www.example.com", "f1e3 c2e5 f23a 6ba0 ab90 f4ff"],
  ["no-cache", "a8eb 1064 9cbf"],
  ["custom-key", "25a8 49e9 5ba9 7d7f"],
  ["custom-value", "25a8 49e9 5bb8 e8b4 bf"],
  ["302", "6402"],
  ["307", "640e ff"],
  ["private", "aec3 771a 4b"],
  ["Mon, 21 Oct 2013 20:13:21 GMT", "d07a be94 1054 d444 a820 0595 040b 8166 e082 a62d 1bff"],
  ["Mon, 21 Oct 2013 20:13:22 GMT", "d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff"],
  ["https://www.example.com", "9d29 ad17 1863 c78f 0b97 c8e9 ae82 ae43 d3"],
  ["gzip", "9bd9 ab"],
  [
    "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1",
    "94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07",
  ],
];

describe("huffmanEncode", () => {
  it.each(rfcExamples)("codes %j as in RFC 7541 Appendix C", (text, coded) => {
    expect(Buffer.from(huffmanEncode(text)).toString("hex")).toBe(
      Buffer.from(hex(coded)).toString("hex"),
    );
  });

  it.each([
    [0, 13, 0x1ff8],
    [1, 23, 0x7fffd8],
    [9, 24, 0xffffea],
    [10, 30, 0x3ffffffc],
    [22, 30, 0x3ffffffe],
    [32, 6, 0x14],
    [92, 19, 0x7fff0],
    [127, 28, 0xffffffc],
    [128, 20, 0xfffe6],
    [199, 25, 0x1ffffec],
    [203, 27, 0x7ffffde],
    [220, 28, 0xffffffd],
    [255, 26, 0x3ffffee],
  ])("codes octet %i with its %i-bit code from RFC 7541 Appendix B", (octet, length, code) => {
    expect(huffmanEncode(String.fromCharCode(octet))).toEqual(pack([[code, length]]));
  });

  it("codes the empty string as no octets", () => {
    expect(huffmanEncode("")).toEqual(new Uint8Array(0));
  });
});

describe("huffmanDecode", () => {
  it.each(rfcExamples)("decodes %j from RFC 7541 Appendix C", (text, coded) => {
    expect(decodeAll(hex(coded))).toBe(text);
  });

  it("round-trips every octet value, alone and all in one string", () => {
    const all = Array.from({ length: 256 }, (_, octet) => String.fromCharCode(octet)).join("");
    expect(decodeAll(huffmanEncode(all))).toBe(all);
    for (let octet = 0; octet < 256; octet++) {
      const one = String.fromCharCode(octet);
      expect(decodeAll(huffmanEncode(one))).toBe(one);
      const three = one + "a" + one;
      expect(decodeAll(huffmanEncode(three))).toBe(three);
    }
  });

  it("round-trips pseudo-random latin1 strings of every padding length", () => {
    let seed = 7;
    const random = () => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return seed >>> 16;
    };
    for (let n = 0; n < 500; n++) {
      let text = "";
      const length = random() % 64;
      for (let i = 0; i < length; i++) {
        // Mostly header-like characters, sometimes any octet.
        text += String.fromCharCode(random() % 4 === 0 ? random() % 256 : 0x20 + (random() % 95));
      }
      expect(decodeAll(huffmanEncode(text))).toBe(text);
    }
  });

  it("decodes only the octets between start and end", () => {
    const coded = huffmanEncode("no-cache");
    const framed = new Uint8Array(coded.length + 6);
    framed.fill(0xaa);
    framed.set(coded, 3);
    expect(huffmanDecode(framed, 3, 3 + coded.length)).toBe("no-cache");
    expect(huffmanDecode(framed, 3, 3)).toBe("");
  });

  it("decodes strings longer than its first scratch buffer", () => {
    const long = "x".repeat(5000) + "\u00ff".repeat(300);
    expect(decodeAll(huffmanEncode(long))).toBe(long);
  });

  it("rejects EOS inside a string", () => {
    const message = "HPACK Huffman string contains EOS";
    expect(() => decodeAll(pack([EOS]))).toThrow(new HpackError(message));
    expect(() => decodeAll(pack([A, EOS, A]))).toThrow(new HpackError(message));
    expect(() => decodeAll(pack([A, A, A, EOS]))).toThrow(HpackError);
  });

  it("rejects padding longer than 7 bits", () => {
    const message = "HPACK Huffman string has more than 7 bits of padding";
    expect(() => decodeAll(Uint8Array.of(0xff))).toThrow(new HpackError(message));
    // '0' (00000) padded with 111, then a whole octet of ones.
    expect(() => decodeAll(Uint8Array.of(0x07, 0xff))).toThrow(new HpackError(message));
    expect(() => decodeAll(Uint8Array.of(0xff, 0xff, 0xff))).toThrow(new HpackError(message));
  });

  it("rejects padding that is not the start of EOS", () => {
    const message = "HPACK Huffman string has padding that is not the start of EOS";
    // '0' padded with 110 or 000 instead of 111.
    expect(() => decodeAll(Uint8Array.of(0x06))).toThrow(new HpackError(message));
    expect(() => decodeAll(pack([ZERO], 0))).toThrow(new HpackError(message));
    // A code cut short: the first 8 of the 13 bits of octet 0.
    expect(() => decodeAll(Uint8Array.of(0xff, 0xc0))).toThrow(new HpackError(message));
  });

  it("accepts every padding from 0 to 7 ones", () => {
    // n times 'a' (5 bits) leaves 8 - 5n mod 8 bits of padding: 3, 6, 1, 4, 7, 2, 5, 0.
    const paddings = new Set<number>();
    for (let n = 1; n <= 8; n++) {
      const coded = pack(Array.from({ length: n }, () => A));
      paddings.add(coded.length * 8 - 5 * n);
      expect(decodeAll(coded)).toBe("a".repeat(n));
    }
    expect([...paddings].sort()).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });
});
