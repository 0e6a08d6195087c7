import { describe, expect, it } from "vitest";
import { advertisedUrl } from "./advertised-url.js";

describe("advertisedUrl", () => {
  it("keeps a concrete address", () => {
    expect(advertisedUrl("http://127.0.0.1:8081", {})).toBe("http://127.0.0.1:8081");
    expect(advertisedUrl("https://10.0.0.7:8443", { HOSTNAME: "ignored" })).toBe(
      "https://10.0.0.7:8443",
    );
  });

  it.each([
    ["http://0.0.0.0:8081", { HOSTNAME: "kv-store-7f9c" }, "http://kv-store-7f9c:8081"],
    ["http://[::]:8081", { HOSTNAME: "kv-store-7f9c" }, "http://kv-store-7f9c:8081"],
    ["http://0.0.0.0:8081", {}, "http://localhost:8081"],
    ["https://[::]:8443", { HOSTNAME: "" }, "https://localhost:8443"],
  ])("replaces the wildcard in %s with HOSTNAME (else localhost)", (url, env, expected) => {
    expect(advertisedUrl(url, env)).toBe(expected);
  });

  it("is undefined before the plugin listens", () => {
    expect(advertisedUrl(undefined, {})).toBeUndefined();
  });
});
