import { describe, expect, it } from "vitest";
import { isTrustDomain, parseSpiffeId } from "./spiffe-id.js";

describe("parseSpiffeId", () => {
  it("parses workload IDs", () => {
    expect(parseSpiffeId("spiffe://example.org/plugin/billing")).toEqual({
      id: "spiffe://example.org/plugin/billing",
      trustDomain: "example.org",
      path: "/plugin/billing",
    });
    expect(parseSpiffeId("spiffe://td-1_x.y/a.b-c_D")?.path).toBe("/a.b-c_D");
  });

  it.each([
    "spiffe://example.org",
    "spiffe://example.org/",
    "spiffe://example.org/a/",
    "spiffe://example.org//a",
    "spiffe://example.org/./a",
    "spiffe://example.org/a/..",
    "spiffe://Example.org/a",
    "spiffe://example.org:443/a",
    "spiffe://user@example.org/a",
    "spiffe://example.org/a?b=c",
    "spiffe://example.org/a#b",
    "spiffe://example.org/a b",
    "spiffe:///a",
    "SPIFFE://example.org/a",
    "https://example.org/a",
    `spiffe://example.org/${"a".repeat(2048)}`,
  ])("rejects %s", (value) => {
    expect(parseSpiffeId(value)).toBeUndefined();
  });
});

describe("isTrustDomain", () => {
  it("accepts lower-case DNS-like names only", () => {
    expect(isTrustDomain("example.org")).toBe(true);
    expect(isTrustDomain("")).toBe(false);
    expect(isTrustDomain("Example.org")).toBe(false);
    expect(isTrustDomain("example.org/x")).toBe(false);
  });
});
