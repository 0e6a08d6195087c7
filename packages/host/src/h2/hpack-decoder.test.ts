import * as http2 from "node:http2";
import * as net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { isHostError } from "../host-error.js";
import { CLIENT_PREFACE, Flag, FrameType, frame } from "./frame.js";
import { HpackDecoder } from "./hpack-decoder.js";
import { HeaderListTooLargeError, HpackError } from "./hpack-error.js";
import { huffmanEncode } from "./hpack-huffman.js";

function hex(text: string): Uint8Array {
  return Uint8Array.from(Buffer.from(text.replace(/\s+/g, ""), "hex"));
}

/** An integer with an N-bit prefix after the high bits `flags` (RFC 7541 §5.1). */
function int(value: number, prefixBits: number, flags = 0): number[] {
  const max = 2 ** prefixBits - 1;
  if (value < max) {
    return [flags | value];
  }
  const out = [flags | max];
  let rest = value - max;
  while (rest >= 128) {
    out.push((rest % 128) | 0x80);
    rest = Math.floor(rest / 128);
  }
  out.push(rest);
  return out;
}

/** A string literal, raw or Huffman-coded (RFC 7541 §5.2). */
function str(value: string, huffman = false): number[] {
  const octets = huffman ? [...huffmanEncode(value)] : [...Buffer.from(value, "latin1")];
  return [...int(octets.length, 7, huffman ? 0x80 : 0), ...octets];
}

/** What `fn` threw; fails if it returned. */
function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error("expected an exception");
}

function expectHpackError(decoder: HpackDecoder, block: readonly number[], message: string) {
  const error = thrown(() => decoder.decode(Uint8Array.from(block)));
  expect(error).toBeInstanceOf(HpackError);
  expect(error).toMatchObject({ name: "HpackError", message });
}

/** One step of an RFC 7541 Appendix C example: the block, and the list and table after it. */
interface Step {
  readonly block: string;
  readonly fields: readonly string[];
  readonly table: readonly string[];
  readonly tableSize: number;
}

function runSteps(decoder: HpackDecoder, steps: readonly Step[]) {
  for (const step of steps) {
    expect(decoder.decode(hex(step.block))).toEqual(step.fields);
    expect(decoder.tableEntries()).toEqual(step.table);
    expect(decoder.tableSize).toBe(step.tableSize);
  }
}

const request1 = [
  ":method",
  "GET",
  ":scheme",
  "http",
  ":path",
  "/",
  ":authority",
  "www.example.com",
];
const request2 = [...request1, "cache-control", "no-cache"];
const request3 = [
  ":method",
  "GET",
  ":scheme",
  "https",
  ":path",
  "/index.html",
  ":authority",
  "www.example.com",
  "custom-key",
  "custom-value",
];
const requestTables = [
  [":authority", "www.example.com"],
  ["cache-control", "no-cache", ":authority", "www.example.com"],
  ["custom-key", "custom-value", "cache-control", "no-cache", ":authority", "www.example.com"],
];

const date1 = "Mon, 21 Oct 2013 20:13:21 GMT";
const date2 = "Mon, 21 Oct 2013 20:13:22 GMT";
const location = "https://www.example.com";
const cookie = "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1";
const response1 = [
  ":status",
  "302",
  "cache-control",
  "private",
  "date",
  date1,
  "location",
  location,
];
const response2 = [
  ":status",
  "307",
  "cache-control",
  "private",
  "date",
  date1,
  "location",
  location,
];
const response3 = [
  ":status",
  "200",
  "cache-control",
  "private",
  "date",
  date2,
  "location",
  location,
  "content-encoding",
  "gzip",
  "set-cookie",
  cookie,
];
const responseTables = [
  ["location", location, "date", date1, "cache-control", "private", ":status", "302"],
  [":status", "307", "location", location, "date", date1, "cache-control", "private"],
  ["set-cookie", cookie, "content-encoding", "gzip", "date", date2],
];

describe("HpackDecoder on the examples of RFC 7541 Appendix C", () => {
  it("C.2.1 literal header field with indexing", () => {
    runSteps(new HpackDecoder(), [
      {
        block: "400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572",
        fields: ["custom-key", "custom-header"],
        table: ["custom-key", "custom-header"],
        tableSize: 55,
      },
    ]);
  });

  it("C.2.2 literal header field without indexing", () => {
    runSteps(new HpackDecoder(), [
      {
        block: "040c 2f73 616d 706c 652f 7061 7468",
        fields: [":path", "/sample/path"],
        table: [],
        tableSize: 0,
      },
    ]);
  });

  it("C.2.3 literal header field never indexed", () => {
    runSteps(new HpackDecoder(), [
      {
        block: "1008 7061 7373 776f 7264 0673 6563 7265 74",
        fields: ["password", "secret"],
        table: [],
        tableSize: 0,
      },
    ]);
  });

  it("C.2.4 indexed header field", () => {
    runSteps(new HpackDecoder(), [
      { block: "82", fields: [":method", "GET"], table: [], tableSize: 0 },
    ]);
  });

  it("C.3 requests without Huffman coding, on one decoder", () => {
    runSteps(new HpackDecoder(), [
      {
        block: "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
        fields: request1,
        table: requestTables[0]!,
        tableSize: 57,
      },
      {
        block: "8286 84be 5808 6e6f 2d63 6163 6865",
        fields: request2,
        table: requestTables[1]!,
        tableSize: 110,
      },
      {
        block: "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
        fields: request3,
        table: requestTables[2]!,
        tableSize: 164,
      },
    ]);
  });

  it("C.4 requests with Huffman coding, on one decoder", () => {
    runSteps(new HpackDecoder(), [
      {
        block: "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff",
        fields: request1,
        table: requestTables[0]!,
        tableSize: 57,
      },
      {
        block: "8286 84be 5886 a8eb 1064 9cbf",
        fields: request2,
        table: requestTables[1]!,
        tableSize: 110,
      },
      {
        block: "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf",
        fields: request3,
        table: requestTables[2]!,
        tableSize: 164,
      },
    ]);
  });

  it("C.5 responses without Huffman coding, with a 256-octet table and evictions", () => {
    const decoder = new HpackDecoder({ maxTableSize: 256 });
    runSteps(decoder, [
      {
        block: `4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133
                2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70
                6c65 2e63 6f6d`,
        fields: response1,
        table: responseTables[0]!,
        tableSize: 222,
      },
      {
        block: "4803 3330 37c1 c0bf",
        fields: response2,
        table: responseTables[1]!,
        tableSize: 222,
      },
      {
        block: `88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d
                54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049
                5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e
                3d31`,
        fields: response3,
        table: responseTables[2]!,
        tableSize: 215,
      },
    ]);
    expect(decoder.tableCapacity).toBe(256);
  });

  it("C.6 responses with Huffman coding, with a 256-octet table and evictions", () => {
    runSteps(new HpackDecoder({ maxTableSize: 256 }), [
      {
        block: `4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6
                2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3`,
        fields: response1,
        table: responseTables[0]!,
        tableSize: 222,
      },
      {
        block: "4883 640e ffc1 c0bf",
        fields: response2,
        table: responseTables[1]!,
        tableSize: 222,
      },
      {
        block: `88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab
                77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f
                9587 3160 65c0 03ed 4ee5 b106 3d50 07`,
        fields: response3,
        table: responseTables[2]!,
        tableSize: 215,
      },
    ]);
  });
});

describe("HpackDecoder", () => {
  it("decodes an empty block to no fields", () => {
    expect(new HpackDecoder().decode(new Uint8Array(0))).toEqual([]);
  });

  it("decodes raw strings with every octet as latin1, from a view into a larger buffer", () => {
    const octets = Array.from({ length: 256 }, (_, octet) => String.fromCharCode(octet)).join("");
    const block = [
      0x00,
      ...str("x-octets"),
      ...str(octets),
      0x10,
      ...str("x-huff", true),
      ...str(octets, true),
    ];
    const backing = new Uint8Array(block.length + 10);
    backing.set(block, 5);
    const view = backing.subarray(5, 5 + block.length);
    expect(new HpackDecoder().decode(view)).toEqual(["x-octets", octets, "x-huff", octets]);
  });

  it("reads names from the static and the dynamic table for literals of all three kinds", () => {
    const decoder = new HpackDecoder();
    decoder.decode(Uint8Array.from([0x40, ...str("x-custom"), ...str("first")]));
    const block = [
      ...int(31, 6, 0x40), // incremental indexing, static name content-type
      ...str("application/grpc"),
      ...int(62 + 1, 4, 0x00), // without indexing, dynamic name x-custom (now at 63)
      ...str("second"),
      ...int(62 + 1, 4, 0x10), // never indexed, dynamic name x-custom (still at 63)
      ...str("third", true),
      ...int(62, 7, 0x80), // indexed, the content-type entry
    ];
    expect(decoder.decode(Uint8Array.from(block))).toEqual([
      "content-type",
      "application/grpc",
      "x-custom",
      "second",
      "x-custom",
      "third",
      "content-type",
      "application/grpc",
    ]);
    expect(decoder.tableEntries()).toEqual([
      "content-type",
      "application/grpc",
      "x-custom",
      "first",
    ]);
  });

  it("reads the last static entry and multi-octet indices", () => {
    const decoder = new HpackDecoder();
    expect(decoder.decode(Uint8Array.of(0xbd))).toEqual(["www-authenticate", ""]);
    expect(decoder.decode(Uint8Array.from([...int(61, 4), ...str("x")]))).toEqual([
      "www-authenticate",
      "x",
    ]);
  });

  it("empties the table for an entry larger than the table, without adding it (RFC 7541 §4.4)", () => {
    const decoder = new HpackDecoder({ maxTableSize: 256 });
    decoder.decode(hex("8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d"));
    expect(decoder.tableSize).toBe(57);
    const big = "b".repeat(256 - 32 - "x-big".length + 1);
    expect(decoder.decode(Uint8Array.from([0x40, ...str("x-big"), ...str(big)]))).toEqual([
      "x-big",
      big,
    ]);
    expect(decoder.tableEntries()).toEqual([]);
    expect(decoder.tableSize).toBe(0);
    // An entry of exactly the table size fits.
    const fits = big.slice(1);
    decoder.decode(Uint8Array.from([0x40, ...str("x-big"), ...str(fits)]));
    expect(decoder.tableEntries()).toEqual(["x-big", fits]);
    expect(decoder.tableSize).toBe(256);
  });

  it("keeps a dynamic name that its own insertion evicts", () => {
    const decoder = new HpackDecoder({ maxTableSize: 100 });
    decoder.decode(Uint8Array.from([0x40, ...str("x-name"), ...str("v".repeat(50))]));
    // Literal with incremental indexing whose name is entry 62, which the new entry evicts.
    expect(decoder.decode(Uint8Array.from([...int(62, 6, 0x40), ...str("w".repeat(40))]))).toEqual([
      "x-name",
      "w".repeat(40),
    ]);
    expect(decoder.tableEntries()).toEqual(["x-name", "w".repeat(40)]);
  });

  describe("dynamic table size updates", () => {
    it("shrink the table at the start of a block, evicting the oldest entries", () => {
      const decoder = new HpackDecoder();
      decoder.decode(hex("8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d"));
      decoder.decode(hex("8286 84be 5808 6e6f 2d63 6163 6865"));
      expect(decoder.tableSize).toBe(110);
      expect(decoder.decode(Uint8Array.from([...int(60, 5, 0x20), 0xbe]))).toEqual([
        "cache-control",
        "no-cache",
      ]);
      expect(decoder.tableEntries()).toEqual(["cache-control", "no-cache"]);
      expect(decoder.tableCapacity).toBe(60);
      expect(decoder.decode(Uint8Array.of(0x20))).toEqual([]);
      expect(decoder.tableEntries()).toEqual([]);
      expect(decoder.tableSize).toBe(0);
      // With size 0 nothing is added.
      decoder.decode(Uint8Array.from([0x40, ...str("a"), ...str("b")]));
      expect(decoder.tableEntries()).toEqual([]);
    });

    it("may come twice, and may grow the table back up to the limit", () => {
      const decoder = new HpackDecoder({ maxTableSize: 4096 });
      expect(decoder.decode(Uint8Array.from([0x20, ...int(4096, 5, 0x20), 0x82]))).toEqual([
        ":method",
        "GET",
      ]);
      expect(decoder.tableCapacity).toBe(4096);
    });

    it("above the advertised maximum are an HpackError", () => {
      expectHpackError(
        new HpackDecoder(),
        int(4097, 5, 0x20),
        "HPACK dynamic table size update to 4097 exceeds the limit of 4096",
      );
      expectHpackError(
        new HpackDecoder({ maxTableSize: 0 }),
        [0x21],
        "HPACK dynamic table size update to 1 exceeds the limit of 0",
      );
    });

    it("after a header field are an HpackError", () => {
      const message = "HPACK dynamic table size update after a header field";
      expectHpackError(new HpackDecoder(), [0x82, 0x20], message);
      expectHpackError(new HpackDecoder(), [0x20, 0x82, ...int(100, 5, 0x20)], message);
    });
  });

  describe("malformed blocks", () => {
    it("index 0 is an HpackError", () => {
      expectHpackError(new HpackDecoder(), [0x80], "HPACK indexed header field has index 0");
    });

    it("indices past the tables are an HpackError, for fields and for names", () => {
      const decoder = new HpackDecoder();
      expectHpackError(decoder, [0xbe], "HPACK index 62 is not in the tables");
      expectHpackError(decoder, [...int(62, 6, 0x40), 0x00], "HPACK index 62 is not in the tables");
      expectHpackError(decoder, [...int(62, 4, 0x00), 0x00], "HPACK index 62 is not in the tables");
      expectHpackError(decoder, [...int(62, 4, 0x10), 0x00], "HPACK index 62 is not in the tables");
      const withOne = new HpackDecoder();
      withOne.decode(Uint8Array.from([0x40, ...str("a"), ...str("b")]));
      expect(withOne.decode(Uint8Array.of(0xbe))).toEqual(["a", "b"]);
      expectHpackError(withOne, [0xbf], "HPACK index 63 is not in the tables");
    });

    it("integers up to 2^31-1 are read, larger ones are an HpackError", () => {
      // 127 + 0x7fffff80 = 2^31 - 1, with five continuation octets.
      expectHpackError(
        new HpackDecoder(),
        [0xff, 0x80, 0xff, 0xff, 0xff, 0x07],
        "HPACK index 2147483647 is not in the tables",
      );
      expectHpackError(
        new HpackDecoder(),
        [0xff, 0x81, 0xff, 0xff, 0xff, 0x07],
        "HPACK integer is larger than 2^31-1",
      );
      expectHpackError(
        new HpackDecoder(),
        [0x00, 0x7f, 0xff, 0xff, 0xff, 0xff, 0x7f],
        "HPACK integer is larger than 2^31-1",
      );
    });

    it("integers with more than 5 continuation octets are an HpackError, even with value 0", () => {
      expectHpackError(
        new HpackDecoder(),
        [0xff, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00],
        "HPACK integer has more than 5 continuation octets",
      );
      // Five are fine: 127 + 0 = 127, out of range.
      expectHpackError(
        new HpackDecoder(),
        [0xff, 0x80, 0x80, 0x80, 0x80, 0x00],
        "HPACK index 127 is not in the tables",
      );
    });

    it("a block that ends inside an integer is an HpackError", () => {
      const message = "HPACK header block ends inside an integer";
      expectHpackError(new HpackDecoder(), [0xff], message);
      expectHpackError(new HpackDecoder(), [0xff, 0x80], message);
      expectHpackError(new HpackDecoder(), [0x3f], message);
      expectHpackError(new HpackDecoder(), [0x04, 0x7f, 0x85], message);
    });

    it("a block that ends before or inside a string is an HpackError", () => {
      const before = "HPACK header block ends before a string literal";
      const inside = "HPACK header block ends inside a string literal";
      expectHpackError(new HpackDecoder(), [0x40], before);
      expectHpackError(new HpackDecoder(), [0x40, ...str("a")], before);
      expectHpackError(new HpackDecoder(), [0x04], before);
      expectHpackError(new HpackDecoder(), [0x40, 0x0a, 0x63, 0x75], inside);
      expectHpackError(new HpackDecoder(), [0x04, 0x85, 0x00], inside);
      expectHpackError(new HpackDecoder(), [0x04, 0x01], inside);
    });

    it("a bad Huffman string in a block is an HpackError", () => {
      expectHpackError(
        new HpackDecoder(),
        [0x04, 0x81, 0xff],
        "HPACK Huffman string has more than 7 bits of padding",
      );
      expectHpackError(
        new HpackDecoder(),
        [0x04, 0x84, 0xff, 0xff, 0xff, 0xff],
        "HPACK Huffman string contains EOS",
      );
      expectHpackError(
        new HpackDecoder(),
        [0x00, 0x81, 0x00, 0x00],
        "HPACK Huffman string has padding that is not the start of EOS",
      );
    });

    it("a literal name with uppercase letters is an HpackError, raw or Huffman-coded", () => {
      expectHpackError(
        new HpackDecoder(),
        [0x00, ...str("X-Up"), ...str("v")],
        'HPACK header name "X-Up" has uppercase letters',
      );
      expectHpackError(
        new HpackDecoder(),
        [0x40, ...str("x-uP", true), ...str("v")],
        'HPACK header name "x-uP" has uppercase letters',
      );
    });

    it("with allowUppercaseNames, decodes such names (and indexes them) for the caller to judge", () => {
      const decoder = new HpackDecoder({ allowUppercaseNames: true });
      expect(decoder.decode(Uint8Array.from([0x40, ...str("X-Up"), ...str("v")]))).toEqual([
        "X-Up",
        "v",
      ]);
      // The table stayed in step: dynamic index 62 is the entry just added.
      expect(decoder.decode(Uint8Array.from([0x80 | 62]))).toEqual(["X-Up", "v"]);
    });
  });

  describe("the header list limit", () => {
    const big = (name: string, length: number) => [0x40, ...str(name), ...str("v".repeat(length))];

    it("admits a list of exactly maxHeaderListBytes", () => {
      const decoder = new HpackDecoder({ maxHeaderListBytes: 32 + 3 + 100 });
      expect(decoder.decode(Uint8Array.from(big("x-a", 100)))).toHaveLength(2);
    });

    it("throws HeaderListTooLargeError after processing the whole block, so the table stays in sync", () => {
      const decoder = new HpackDecoder({ maxHeaderListBytes: 200 });
      // Three fields of 135 octets each: only the first fits.
      const block = Uint8Array.from([...big("x-a", 100), ...big("x-b", 100), ...big("x-c", 100)]);
      const error = thrown(() => decoder.decode(block));
      expect(error).toBeInstanceOf(HeaderListTooLargeError);
      expect(error).toMatchObject({
        name: "HeaderListTooLargeError",
        message: "HTTP/2 header list is larger than 200 octets",
      });
      expect(decoder.tableEntries()).toEqual([
        "x-c",
        "v".repeat(100),
        "x-b",
        "v".repeat(100),
        "x-a",
        "v".repeat(100),
      ]);
      expect(decoder.tableSize).toBe(3 * 135);
      // The next block refers to what the failed one added.
      expect(decoder.decode(Uint8Array.of(0x88, 0xbf))).toEqual([
        ":status",
        "200",
        "x-b",
        "v".repeat(100),
      ]);
    });

    it("reports a malformed block as HpackError even when it was too large before", () => {
      const decoder = new HpackDecoder({ maxHeaderListBytes: 100 });
      expectHpackError(
        decoder,
        [...big("x-a", 100), 0x80],
        "HPACK indexed header field has index 0",
      );
    });
  });

  it("keeps its table like a plain array model through many blocks, evictions and size updates", () => {
    const maxTableSize = 4096;
    const decoder = new HpackDecoder({ maxTableSize });
    const model: [string, string][] = [];
    let capacity = maxTableSize;
    const modelSize = () => model.reduce((sum, [n, v]) => sum + n.length + v.length + 32, 0);
    const evictDownTo = (limit: number) => {
      while (modelSize() > limit) model.pop();
    };
    let seed = 42;
    const random = (below: number) => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return (seed >>> 8) % below;
    };
    let largestTable = 0;
    for (let n = 0; n < 400; n++) {
      const block: number[] = [];
      const expected: string[] = [];
      if (random(12) === 0) {
        capacity = random(maxTableSize + 1);
        block.push(...int(capacity, 5, 0x20));
        evictDownTo(capacity);
      }
      for (let f = random(10); f > 0; f--) {
        if (model.length > 0 && random(3) === 0) {
          const k = random(model.length);
          block.push(...int(62 + k, 7, 0x80));
          expected.push(...model[k]!);
          continue;
        }
        const kind = [0x40, 0x00, 0x10][random(3)]!;
        const prefixBits = kind === 0x40 ? 6 : 4;
        let name: string;
        const nameSource = random(3);
        if (nameSource === 0 && model.length > 0) {
          const k = random(model.length);
          name = model[k]![0];
          block.push(...int(62 + k, prefixBits, kind));
        } else if (nameSource === 1) {
          name = "user-agent";
          block.push(...int(58, prefixBits, kind));
        } else {
          name = `x-${random(50)}`;
          block.push(kind, ...str(name, random(2) === 0));
        }
        const value = "v".repeat(random(random(8) === 0 ? 400 : 30)) + String(random(1000));
        block.push(...str(value, random(2) === 0));
        expected.push(name, value);
        if (kind === 0x40) {
          const entrySize = name.length + value.length + 32;
          if (entrySize > capacity) {
            model.length = 0;
          } else {
            evictDownTo(capacity - entrySize);
            model.unshift([name, value]);
          }
        }
      }
      expect(decoder.decode(Uint8Array.from(block))).toEqual(expected);
      expect(decoder.tableEntries()).toEqual(model.flat());
      expect(decoder.tableSize).toBe(modelSize());
      expect(decoder.tableCapacity).toBe(capacity);
      largestTable = Math.max(largestTable, model.length);
    }
    // The ring buffer started at 16 entries and had to grow.
    expect(largestTable).toBeGreaterThan(32);
  });

  it("rejects invalid options at construction with a HostError that says what to change", () => {
    for (const maxTableSize of [-1, 1.5, Number.NaN, 2 ** 32]) {
      const error = thrown(() => new HpackDecoder({ maxTableSize }));
      expect(isHostError(error)).toBe(true);
      expect(error).toMatchObject({
        code: "invalid_config",
        message: `HPACK maxTableSize must be an integer from 0 to 4294967295, got ${maxTableSize}`,
      });
    }
    for (const maxHeaderListBytes of [0, -5, 2.5]) {
      const error = thrown(() => new HpackDecoder({ maxHeaderListBytes }));
      expect(error).toMatchObject({
        code: "invalid_config",
        message: `HPACK maxHeaderListBytes must be a positive integer, got ${maxHeaderListBytes}`,
      });
    }
  });
});

/** Every octet Node accepts in a header value: HTAB, visible ASCII and space, and 0x80-0xff. */
const valueOctets = [0x09, ...range(0x20, 0x7e), ...range(0x80, 0xff)].map((octet) =>
  String.fromCharCode(octet),
);

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

const PREFACE = CLIENT_PREFACE.toString("latin1");
const { HEADERS, SETTINGS, CONTINUATION } = FrameType;
const { ACK, END_HEADERS, PADDED, PRIORITY } = Flag;

/**
 * A raw TCP server that speaks just enough HTTP/2 to make a Node client send
 * its requests: it sends an empty SETTINGS, acknowledges the client's, and
 * collects each complete header block (HEADERS plus CONTINUATIONs).
 */
async function headerBlockRecorder() {
  const sockets = new Set<net.Socket>();
  const blocks: Buffer[] = [];
  let waiter: (() => void) | undefined;
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.write(frame(SETTINGS, 0, 0));
    let buffered = Buffer.alloc(0);
    let prefaceSeen = false;
    let pending: Buffer[] = [];
    socket.on("data", (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      if (!prefaceSeen) {
        if (buffered.length < PREFACE.length) return;
        expect(buffered.subarray(0, PREFACE.length).toString("latin1")).toBe(PREFACE);
        buffered = buffered.subarray(PREFACE.length);
        prefaceSeen = true;
      }
      while (buffered.length >= 9 && buffered.length >= 9 + buffered.readUIntBE(0, 3)) {
        const length = buffered.readUIntBE(0, 3);
        const type = buffered[3]!;
        const flags = buffered[4]!;
        let payload = buffered.subarray(9, 9 + length);
        buffered = buffered.subarray(9 + length);
        if (type === SETTINGS && (flags & ACK) === 0) {
          socket.write(frame(SETTINGS, ACK, 0));
        } else if (type === HEADERS || type === CONTINUATION) {
          if (type === HEADERS) {
            const padLength = flags & PADDED ? payload[0]! : 0;
            payload = payload.subarray(flags & PADDED ? 1 : 0, payload.length - padLength);
            if (flags & PRIORITY) payload = payload.subarray(5);
          }
          pending.push(payload);
          if (flags & END_HEADERS) {
            blocks.push(Buffer.concat(pending));
            pending = [];
            waiter?.();
          }
        }
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    port,
    blocks,
    /** Resolves once `count` header blocks arrived. */
    until(count: number): Promise<void> {
      return new Promise((resolve) => {
        waiter = () => {
          if (blocks.length >= count) resolve();
        };
        waiter();
      });
    },
    close(): Promise<void> {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

describe("HpackDecoder on what Node's HTTP/2 client (nghttp2) sends", () => {
  const cleanups: (() => unknown)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it("decodes every octet Node allows in values, long values, and a second request from the dynamic table", async () => {
    const recorder = await headerBlockRecorder();
    cleanups.push(() => recorder.close());
    const client = http2.connect(`http://127.0.0.1:${recorder.port}`);
    cleanups.push(() => client.destroy());
    const clientError = new Promise<never>((_, reject) => client.on("error", reject));

    const ascii = valueOctets.filter((c) => c < "\u0080").join("");
    const high = valueOctets.filter((c) => c >= "\u0080").join("");
    // Each octet between cheap letters makes Huffman coding the shorter choice.
    const spaced = valueOctets.map((c) => `${c}eeeeeeee`).join("");
    // Beyond 16384 octets (the default frame size): the block needs a CONTINUATION.
    const long = high.repeat(140);
    const sent: [string, string | string[]][] = [
      [":method", "POST"],
      [":authority", `127.0.0.1:${recorder.port}`],
      [":scheme", "http"],
      [":path", "/pkg.Service/Method"],
      ["content-type", "application/grpc"],
      ["te", "trailers"],
      ["x-ascii", `a${ascii}z`],
      ["x-high", high],
      ["x-spaced", spaced],
      ["x-repeated", ["one", "two"]],
      ["x-long", long],
      ["x-medium", "m".repeat(1000)],
    ];
    const expected = sent.flatMap(([name, value]) =>
      Array.isArray(value) ? value.flatMap((v) => [name, v]) : [name, value],
    );

    const request = (): void => {
      const stream = client.request(Object.fromEntries(sent), { endStream: true });
      // The recorder never answers; the teardown cancels the streams.
      stream.on("error", () => {});
    };
    request();
    await Promise.race([recorder.until(1), clientError]);
    request();
    await Promise.race([recorder.until(2), clientError]);

    const [first, second] = recorder.blocks as [Buffer, Buffer];
    expect(first.length).toBeGreaterThan(16384);
    // nghttp2 sent the spaced value Huffman-coded, exactly as huffmanEncode codes it,
    // and the high octets raw (their codes are longer than 8 bits).
    expect(first.includes(Buffer.from(huffmanEncode(spaced)))).toBe(true);
    expect(first.includes(Buffer.from(high, "latin1"))).toBe(true);
    const decoder = new HpackDecoder();
    expect(decoder.decode(first)).toEqual(expected);
    expect(decoder.tableSize).toBeGreaterThan(1000);
    expect(decoder.decode(second)).toEqual(expected);
    // The second block refers to the entries the first added.
    expect(second.length).toBeLessThan(first.length - 1000);
  });
});
