import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { validateBaseUrl } from "./base-url.js";
import { caught, describeError, RUNS, withInsertion } from "./test-arbitraries.js";

// No "--": "xn--" labels must be valid punycode.
const hostLabel = fc.stringMatching(/^[a-z0-9]{1,12}(-[a-z0-9]{1,8})?$/);
const hostName = fc
  .array(hostLabel, { minLength: 1, maxLength: 4 })
  .map((labels) => `${labels.join(".")}.internal`);
const ipv4 = fc.ipV4();
const ipv6 = fc.ipV6().map((ip) => `[${ip}]`);
const validUrl = fc
  .tuple(
    fc.constantFrom("http", "https", "HTTP", "Https"),
    fc.oneof(hostName, ipv4, ipv6),
    fc.option(fc.integer({ min: 1, max: 65535 })),
    fc.option(fc.webSegment().filter((s) => !/[?#\\%]/.test(s))),
  )
  .map(
    ([scheme, host, port, path]) =>
      `${scheme}://${host}${port === null ? "" : `:${port}`}${path === null ? "" : `/${path}`}`,
  );

function expectError(value: string, message: string, code: string, options = {}) {
  expect(describeError(caught(() => validateBaseUrl(value, options)))).toEqual({
    message,
    field: "base_url",
    code,
    limit: undefined,
  });
}

describe("validateBaseUrl", () => {
  it.each([
    "http://10.0.0.7:8082",
    "https://plugins.internal",
    "http://localhost:8080/",
    "http://[::1]:9000",
    "https://gw.internal/plugins/kv",
    "HTTP://KV.INTERNAL:80",
  ])("accepts %j", (value) => {
    expect(() => validateBaseUrl(value)).not.toThrow();
  });

  it.each([
    ["", "base URL must not be empty", "empty"],
    ["http://a\u0000b", "base URL contains a NUL byte", "forbidden_character"],
    [
      "http://a b",
      'base URL must not contain spaces, control characters or "\\"',
      "forbidden_character",
    ],
    [
      " http://a",
      'base URL must not contain spaces, control characters or "\\"',
      "forbidden_character",
    ],
    [
      "http://a\n",
      'base URL must not contain spaces, control characters or "\\"',
      "forbidden_character",
    ],
    [
      "http:\\\\evil.example",
      'base URL must not contain spaces, control characters or "\\"',
      "forbidden_character",
    ],
    ["10.0.0.7:8082", "base URL must be an absolute http or https URL", "invalid_format"],
    ["/relative", "base URL must be an absolute http or https URL", "invalid_format"],
    ["ftp://files.internal", "base URL must be an absolute http or https URL", "invalid_format"],
    ["file:///etc/passwd", "base URL must be an absolute http or https URL", "invalid_format"],
    ["javascript:alert(1)", "base URL must be an absolute http or https URL", "invalid_format"],
    ["http:/a", "base URL must be an absolute http or https URL", "invalid_format"],
    ["http://", "base URL must be an absolute http or https URL", "invalid_format"],
    ["http://a:99999", "base URL must be an absolute http or https URL", "invalid_format"],
    ["http://user:secret@a", "base URL must not contain credentials", "invalid_format"],
    ["http://user@a", "base URL must not contain credentials", "invalid_format"],
    ["http://@a", "base URL must not contain credentials", "invalid_format"],
    ["http://a/?x=1", "base URL must not contain a query or fragment", "invalid_format"],
    ["http://a?", "base URL must not contain a query or fragment", "invalid_format"],
    ["http://a/#top", "base URL must not contain a query or fragment", "invalid_format"],
  ])("rejects %j", (value, message, code) => {
    expectError(value, message, code);
  });

  it("rejects overlong URLs", () => {
    const value = `http://a/${"x".repeat(2040)}`;
    expect(describeError(caught(() => validateBaseUrl(value)))).toEqual({
      message: "base URL too long: 2049 bytes (max: 2048)",
      field: "base_url",
      code: "too_long",
      limit: 2048,
    });
    expect(() => validateBaseUrl(value, { limits: { maxBaseUrlBytes: 4096 } })).not.toThrow();
  });

  it("never repeats credentials in its messages", () => {
    const error = caught(() => validateBaseUrl("http://admin:hunter2@a?x"));
    expect(error?.message).not.toContain("hunter2");
  });

  describe("with allowedHosts", () => {
    const allowedHosts = ["plugins.internal", "10.0.0.0/8", "fd00::/8", "127.0.0.1"];

    it.each([
      "http://plugins.internal:8080",
      "http://PLUGINS.internal.",
      "http://10.1.2.3",
      "http://[fd12::1]:9000",
      "http://[::ffff:10.0.0.7]",
      "http://127.0.0.1:1",
      "http://0x7f.1",
    ])("accepts %j", (value) => {
      expect(() => validateBaseUrl(value, { allowedHosts })).not.toThrow();
    });

    it.each([
      ["http://evil.example", "evil.example"],
      ["http://sub.plugins.internal", "sub.plugins.internal"],
      ["http://11.0.0.1", "11.0.0.1"],
      ["http://127.0.0.2", "127.0.0.2"],
      ["http://[fe80::1]", "[fe80::1]"],
      ["http://[::ffff:11.0.0.1]", "[::ffff:b00:1]"],
    ])("refuses %j", (value, host) => {
      expectError(value, `base URL host "${host}" is not in the allowed hosts`, "not_allowed", {
        allowedHosts,
      });
    });

    it("allows nothing with an empty list", () => {
      expectError("http://a", 'base URL host "a" is not in the allowed hosts', "not_allowed", {
        allowedHosts: [],
      });
    });
  });

  describe("properties", () => {
    it("accepts every absolute http(s) URL without credentials, query or fragment", () => {
      fc.assert(
        fc.property(validUrl, (value) => {
          expect(caught(() => validateBaseUrl(value))).toBeUndefined();
        }),
        RUNS,
      );
    });

    it("rejects URLs with credentials, query or fragment", () => {
      const bad = fc.oneof(
        fc
          .tuple(fc.webAuthority({ withUserInfo: true }), fc.constantFrom("http", "https"))
          .filter(([authority]) => authority.includes("@"))
          .map(([authority, scheme]) => `${scheme}://${authority}`),
        fc.tuple(validUrl, fc.webQueryParameters()).map(([u, q]) => `${u}?${q}`),
        fc.tuple(validUrl, fc.webFragments()).map(([u, f]) => `${u}#${f}`),
      );
      fc.assert(
        fc.property(bad, (value) => {
          const error = caught(() => validateBaseUrl(value));
          expect(error?.field).toBe("base_url");
          expect(error?.message).toMatch(
            /^base URL must (not contain credentials|not contain a query or fragment|be an absolute http or https URL)$/,
          );
        }),
        RUNS,
      );
    });

    it("rejects NUL, control characters and other schemes", () => {
      const bad = fc.oneof(
        withInsertion(validUrl, fc.constantFrom("\u0000", " ", "\t", "\u007f", "\\")),
        fc
          .tuple(fc.constantFrom("ftp", "file", "ws", "gopher", "httpx", "data"), validUrl)
          .map(([scheme, u]) => u.replace(/^[a-z]+/i, scheme)),
      );
      fc.assert(
        fc.property(bad, (value) => {
          const error = caught(() => validateBaseUrl(value));
          expect(error?.code).toMatch(/^(forbidden_character|invalid_format)$/);
        }),
        RUNS,
      );
    });

    it("accepts exactly the hosts inside an allowed CIDR block", () => {
      fc.assert(
        fc.property(ipv4, (ip) => {
          const inside = ip.startsWith("10.");
          const error = caught(() =>
            validateBaseUrl(`http://${ip}:80`, { allowedHosts: ["10.0.0.0/8"] }),
          );
          expect(error?.code).toBe(inside ? undefined : "not_allowed");
        }),
        RUNS,
      );
    });
  });
});
