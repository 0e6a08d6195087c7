import { describe, expect, it } from "vitest";
import { isPluginError, type PluginError } from "../plugin-error.js";
import { parseHostUrls } from "./host-urls.js";

function configError(fn: () => unknown): PluginError {
  try {
    fn();
  } catch (error) {
    if (isPluginError(error)) return error;
    throw error;
  }
  throw new Error("accepted");
}

describe("parseHostUrls", () => {
  it("reads one URL, without its trailing slash", () => {
    expect(parseHostUrls("http://127.0.0.1:8080/", "hostUrl")).toEqual(["http://127.0.0.1:8080"]);
    expect(parseHostUrls("https://host.example:8443/cpg", "hostUrl")).toEqual([
      "https://host.example:8443/cpg",
    ]);
  });

  it("reads a comma-separated list: trims spaces, drops empty entries and trailing slashes", () => {
    expect(
      parseHostUrls(
        " http://10.0.0.1:8080/ , ,http://10.0.0.2:8080,, https://h3:8443// ",
        "HOST_URL",
      ),
    ).toEqual(["http://10.0.0.1:8080", "http://10.0.0.2:8080", "https://h3:8443"]);
  });

  it("reads an array, entry by entry, keeping the order", () => {
    expect(parseHostUrls(["http://b:2/", " http://a:1 ", ""], "hostUrl")).toEqual([
      "http://b:2",
      "http://a:1",
    ]);
  });

  it("keeps a URL listed twice once, in its first place", () => {
    expect(parseHostUrls("http://a:1,http://b:2,http://a:1/", "HOST_URL")).toEqual([
      "http://a:1",
      "http://b:2",
    ]);
  });

  it("is empty for nothing, an empty string or only separators", () => {
    expect(parseHostUrls(undefined, "HOST_URL")).toEqual([]);
    expect(parseHostUrls("", "HOST_URL")).toEqual([]);
    expect(parseHostUrls(" , ,", "HOST_URL")).toEqual([]);
    expect(parseHostUrls([], "hostUrl")).toEqual([]);
  });

  it.each<[string, string | string[], string]>([
    [
      "a host without a scheme",
      "http://a:1,127.0.0.1:8080",
      'HOST_URL: "127.0.0.1:8080" is not an absolute http:// or https:// URL',
    ],
    [
      "a name with a port (parsed as a scheme)",
      "localhost:8080",
      'HOST_URL: "localhost:8080" is not an absolute http:// or https:// URL',
    ],
    [
      "another scheme",
      ["http://a:1", "ftp://files.example"],
      'HOST_URL: "ftp://files.example" is not an absolute http:// or https:// URL',
    ],
    [
      "a scheme without //",
      "http:host.example",
      'HOST_URL: "http:host.example" is not an absolute http:// or https:// URL',
    ],
    ["a relative path", "/cpg", 'HOST_URL: "/cpg" is not an absolute http:// or https:// URL'],
    [
      "a query",
      "http://a:1/?replica=2",
      'HOST_URL: "http://a:1/?replica=2" must not have a query or fragment',
    ],
  ])("refuses %s with invalid_config naming the entry", (_, value, message) => {
    const error = configError(() => parseHostUrls(value, "HOST_URL"));
    expect([error.code, error.message]).toEqual(["invalid_config", message]);
  });

  it("refuses an array entry that is not a string", () => {
    const error = configError(() =>
      parseHostUrls(["http://a:1", 8080 as unknown as string], "hostUrl"),
    );
    expect([error.code, error.message]).toEqual([
      "invalid_config",
      "hostUrl: 8080 is not a URL string; give absolute http:// or https:// URLs",
    ]);
  });
});
