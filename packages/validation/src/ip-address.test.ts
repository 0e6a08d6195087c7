import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ipv4FromMapped, parseIPv4, parseIPv6, samePrefix } from "./ip-address.js";
import { RUNS } from "./test-arbitraries.js";

describe("parseIPv4", () => {
  it("parses dotted quads", () => {
    expect(parseIPv4("10.0.0.7")).toEqual([10, 0, 0, 7]);
    expect(parseIPv4("255.255.255.255")).toEqual([255, 255, 255, 255]);
  });
  it.each(["", "1.2.3", "1.2.3.4.5", "01.2.3.4", "256.1.1.1", "1.2.3.-4", "0x1.2.3.4", "1..3.4"])(
    "rejects %j",
    (value) => {
      expect(parseIPv4(value)).toBeUndefined();
    },
  );
  it("round-trips every address", () => {
    fc.assert(
      fc.property(fc.ipV4(), (ip) => {
        expect(parseIPv4(ip)?.join(".")).toBe(ip);
      }),
      RUNS,
    );
  });
});

describe("parseIPv6", () => {
  it.each([
    ["::", "0000:0000:0000:0000:0000:0000:0000:0000"],
    ["::1", "0000:0000:0000:0000:0000:0000:0000:0001"],
    ["fd00::", "fd00:0000:0000:0000:0000:0000:0000:0000"],
    ["1:2:3:4:5:6:7:8", "0001:0002:0003:0004:0005:0006:0007:0008"],
    ["1:2:3:4:5:6:7::", "0001:0002:0003:0004:0005:0006:0007:0000"],
    ["::ffff:10.0.0.1", "0000:0000:0000:0000:0000:ffff:0a00:0001"],
    ["ABCD::ef", "abcd:0000:0000:0000:0000:0000:0000:00ef"],
  ])("parses %j", (value, expected) => {
    const bytes = parseIPv6(value)!;
    const groups = [];
    for (let i = 0; i < 16; i += 2) {
      groups.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16).padStart(4, "0"));
    }
    expect(groups.join(":")).toBe(expected);
  });
  it.each([
    "",
    ":",
    ":::",
    "1::2::3",
    "1:2:3:4:5:6:7:8:9",
    "1:2:3:4:5:6:7",
    "12345::",
    "g::",
    ":1::",
    "1::2:",
    "::1.2.3",
    "1.2.3.4::",
    "fe80::1%eth0",
  ])("rejects %j", (value) => {
    expect(parseIPv6(value)).toBeUndefined();
  });
  it("parses every generated address to 16 bytes", () => {
    fc.assert(
      fc.property(fc.ipV6(), (ip) => {
        expect(parseIPv6(ip)).toHaveLength(16);
      }),
      RUNS,
    );
  });
});

describe("ipv4FromMapped and samePrefix", () => {
  it("extracts the IPv4 address of a mapped IPv6 address", () => {
    expect(ipv4FromMapped(parseIPv6("::ffff:1.2.3.4")!)).toEqual([1, 2, 3, 4]);
    expect(ipv4FromMapped(parseIPv6("::1.2.3.4")!)).toBeUndefined();
    expect(ipv4FromMapped([1, 2, 3, 4])).toBeUndefined();
  });
  it("compares prefixes bit by bit", () => {
    expect(samePrefix([10, 0, 0, 1], [10, 0, 0, 0], 24)).toBe(true);
    expect(samePrefix([10, 0, 1, 1], [10, 0, 0, 0], 24)).toBe(false);
    expect(samePrefix([192, 168, 1, 77], [192, 168, 1, 64], 26)).toBe(true);
    expect(samePrefix([192, 168, 1, 77], [192, 168, 1, 64], 29)).toBe(false);
    expect(samePrefix([1, 2, 3, 4], [9, 9, 9, 9], 0)).toBe(true);
    expect(samePrefix([1, 2, 3, 4], [1, 2, 3, 4, 5], 0)).toBe(false);
  });
});
