import type { IncomingMessage } from "node:http";
import { createContextValues } from "@connectrpc/connect";
import { setAuthContext } from "@cpg/auth";
import { describe, expect, it } from "vitest";
import {
  getClientAddress,
  leftmostForwardedFor,
  normalizeClientAddress,
  setClientAddress,
} from "./client-address.js";
import { ipKeyPart } from "./ip-prefix.js";
import { attachClientAddress, clientAddressContextValues } from "./node-client-address.js";
import { defaultRateLimitKey } from "./rate-limit-key.js";

function request(remoteAddress: string | undefined): IncomingMessage {
  return { socket: { remoteAddress } } as unknown as IncomingMessage;
}

describe("client address", () => {
  it.each([
    ["127.0.0.1", "127.0.0.1"],
    ["::ffff:192.0.2.1", "192.0.2.1"],
    ["::FFFF:10.1.2.3", "10.1.2.3"],
    ["192.0.2.1:51234", "192.0.2.1"],
    ["[2001:DB8::1]:443", "2001:db8::1"],
    ["[::1]", "::1"],
    [" 2001:db8::7 ", "2001:db8::7"],
  ])("normalizes %s to %s", (input, expected) => {
    expect(normalizeClientAddress(input)).toBe(expected);
  });

  it("stores the socket's address, never a header", () => {
    const values = clientAddressContextValues(request("::ffff:203.0.113.9"));
    expect(getClientAddress(values)).toBe("203.0.113.9");
    const other = createContextValues();
    expect(attachClientAddress(other, request(undefined))).toBe(other);
    expect(getClientAddress(other)).toBeUndefined();
    setClientAddress(other, "");
    expect(getClientAddress(other)).toBeUndefined();
  });

  it("reads the left-most X-Forwarded-For entry", () => {
    expect(leftmostForwardedFor("198.51.100.4, 10.0.0.1, 10.0.0.2")).toBe("198.51.100.4");
    expect(leftmostForwardedFor("[2001:db8::9]:1234")).toBe("2001:db8::9");
    expect(leftmostForwardedFor(" , 10.0.0.1")).toBeUndefined();
    expect(leftmostForwardedFor(null)).toBeUndefined();
  });

  it.each([
    ["2001:db8:1:2:3:4:5:6", 64, "2001:db8:1:2:0:0:0:0/64"],
    ["2001:db8:1:2::ffff", 64, "2001:db8:1:2:0:0:0:0/64"],
    ["2001:db8:1:2::ffff", 56, "2001:db8:1:0:0:0:0:0/56"],
    ["2001:db8:1:2ff::1", 56, "2001:db8:1:200:0:0:0:0/56"],
    ["::1", 64, "0:0:0:0:0:0:0:0/64"],
    ["64:ff9b::192.0.2.1", 96, "64:ff9b:0:0:0:0:0:0/96"],
    ["64:ff9b::192.0.2.1", 112, "64:ff9b:0:0:0:0:c000:0/112"],
    ["fe80::1%eth0", 64, "fe80:0:0:0:0:0:0:0/64"],
    ["2001:db8::1", 128, "2001:db8::1"],
    ["192.0.2.1", 64, "192.0.2.1"],
    ["not:an::ip::x", 64, "not:an::ip::x"],
  ])("keys %s with a /%i prefix as %s", (address, bits, expected) => {
    expect(ipKeyPart(address, bits)).toBe(expected);
  });
});

describe("defaultRateLimitKey", () => {
  const headers = (init: Record<string, string> = {}) => new Headers(init);

  it("prefers the authenticated identity", () => {
    const values = clientAddressContextValues(request("192.0.2.1"));
    setAuthContext(values, { identity: "billing-1a2b", provider: "token", claims: {} });
    expect(defaultRateLimitKey({ contextValues: values, header: headers() })).toBe(
      "id:billing-1a2b",
    );
  });

  it("falls back to the client IP, ignoring caller-chosen headers", () => {
    const values = clientAddressContextValues(request("::ffff:192.0.2.1"));
    const header = headers({
      "x-plugin-runtime-id": "someone-else",
      "x-forwarded-for": "198.51.100.4",
    });
    expect(defaultRateLimitKey({ contextValues: values, header })).toBe("ip:192.0.2.1");
    expect(defaultRateLimitKey({ contextValues: values, header }, { trustProxy: true })).toBe(
      "ip:198.51.100.4",
    );
    // trustProxy without the header: the socket address.
    expect(
      defaultRateLimitKey({ contextValues: values, header: headers() }, { trustProxy: true }),
    ).toBe("ip:192.0.2.1");
  });

  it("groups IPv6 callers by /64 and shares one bucket for unknown origins", () => {
    const v6 = clientAddressContextValues(request("2001:db8:aa:bb::1234"));
    expect(defaultRateLimitKey({ contextValues: v6, header: headers() })).toBe(
      "ip:2001:db8:aa:bb:0:0:0:0/64",
    );
    expect(defaultRateLimitKey({ contextValues: createContextValues(), header: headers() })).toBe(
      "ip:unknown",
    );
  });
});
