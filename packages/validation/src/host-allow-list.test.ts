import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { isHostAllowed } from "./host-allow-list.js";
import { RUNS } from "./test-arbitraries.js";

describe("isHostAllowed", () => {
  it.each([
    ["http://plugins.internal:8080", ["plugins.internal"], true],
    ["http://Plugins.Internal", ["PLUGINS.internal"], true],
    ["http://plugins.internal./x", ["plugins.internal"], true],
    ["http://plugins.internal", ["plugins.internal."], true],
    ["http://sub.plugins.internal", ["plugins.internal"], false],
    ["http://plugins.internal.evil", ["plugins.internal"], false],
    ["http://10.0.0.7:8082", ["10.0.0.0/8"], true],
    ["http://10.255.255.255", ["10.0.0.0/8"], true],
    ["http://11.0.0.0", ["10.0.0.0/8"], false],
    ["http://192.168.1.77", ["192.168.1.64/26"], true],
    ["http://192.168.1.128", ["192.168.1.64/26"], false],
    ["http://1.2.3.4", ["0.0.0.0/0"], true],
    ["http://[::1]", ["0.0.0.0/0"], false],
    ["http://[::1]", ["::1"], true],
    ["http://[::1]", ["[::1]"], true],
    ["http://[::1]", ["::/0"], true],
    ["http://[fd00:1:2::3]", ["fd00::/8"], true],
    ["http://[fe80::1]", ["fd00::/8"], false],
    ["http://[::ffff:10.0.0.7]", ["10.0.0.0/8"], true],
    ["http://[::ffff:10.0.0.7]", ["::ffff:0:0/96"], true],
    ["http://0x0a.1", ["10.0.0.1"], true],
    ["http://10.0.0.1", ["localhost"], false],
    ["http://localhost", ["127.0.0.1"], false],
    ["http://xn--r8jz45g.jp", ["xn--r8jz45g.jp"], true],
    ["http://例え.jp", ["xn--r8jz45g.jp"], true],
    ["http://a", [], false],
    ["not a url", ["0.0.0.0/0"], false],
  ])("%s in %j: %s", (url, allowedHosts, expected) => {
    expect(isHostAllowed(url, allowedHosts)).toBe(expected);
  });

  it("accepts URL objects", () => {
    expect(isHostAllowed(new URL("http://10.0.0.7"), ["10.0.0.0/8"])).toBe(true);
  });

  it.each([
    "http://x",
    "10.0.0.0/33",
    "10.0.0.0/-1",
    "10.0.0.0/",
    "10.0.0/8",
    "010.0.0.1",
    "256.0.0.1",
    "10.0.0.256",
    "::1/129",
    "fd00::1::2",
    "[::1",
    "a b",
    "-a.internal",
    "",
    "*.internal",
    "host:8080",
  ])("rejects the malformed entry %j", (entry) => {
    expect(() => isHostAllowed("http://a", [entry])).toThrow(
      `allowedHosts entry ${JSON.stringify(entry)} is not a host name, IP address or CIDR block`,
    );
  });

  it("rejects a non-string entry", () => {
    expect(() => isHostAllowed("http://a", [42 as never])).toThrow(
      "allowedHosts entry 42 must be a string: a host name, IP address or CIDR block",
    );
  });

  describe("properties", () => {
    it("matches an IPv4 address against a CIDR block by its prefix bits", () => {
      fc.assert(
        fc.property(fc.ipV4(), fc.ipV4(), fc.integer({ min: 0, max: 32 }), (ip, net, prefix) => {
          const toInt = (s: string) =>
            s.split(".").reduce((acc, part) => acc * 256 + Number(part), 0);
          const block = 2 ** (32 - prefix);
          const same = Math.floor(toInt(ip) / block) === Math.floor(toInt(net) / block);
          expect(isHostAllowed(`http://${ip}/`, [`${net}/${prefix}`])).toBe(same);
        }),
        RUNS,
      );
    });

    it("allows every IPv6 address listed exactly, and in ::/0", () => {
      fc.assert(
        fc.property(fc.ipV6(), (ip) => {
          expect(isHostAllowed(`http://[${ip}]/`, [ip])).toBe(true);
          expect(isHostAllowed(`http://[${ip}]/`, ["::/0"])).toBe(true);
        }),
        RUNS,
      );
    });

    it("matches host names exactly, never by suffix", () => {
      // No "--": "xn--" labels must be valid punycode.
      const label = fc.stringMatching(/^[a-z][a-z0-9]{0,10}(-[a-z0-9]{1,5})?$/);
      fc.assert(
        fc.property(label, label, (a, b) => {
          expect(isHostAllowed(`http://${a}.internal`, [`${a}.internal`])).toBe(true);
          expect(isHostAllowed(`http://${b}.${a}.internal`, [`${a}.internal`])).toBe(false);
        }),
        RUNS,
      );
    });
  });
});
