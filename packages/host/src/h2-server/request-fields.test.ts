import { describe, expect, it } from "vitest";
import { checkRequestFields, checkTrailerFields } from "./request-fields.js";

const request = (...extra: string[]) => [
  ":method",
  "POST",
  ":scheme",
  "https",
  ":authority",
  "host.example",
  ":path",
  "/pkg.Svc/Method",
  ...extra,
];

describe("checkRequestFields", () => {
  it("accepts a well-formed request, with or without :authority", () => {
    expect(
      checkRequestFields(request("content-type", "application/grpc", "te", "trailers")),
    ).toBeUndefined();
    expect(
      checkRequestFields([":method", "GET", ":scheme", "http", ":path", "/healthz"]),
    ).toBeUndefined();
  });

  it.each([
    ["no :method", request().slice(2), /exactly one :method/],
    ["two :path", request(":path", "/b"), /exactly one/],
    [
      "two :authority",
      [...request().slice(0, 6), ":authority", "b", ...request().slice(6)],
      /at most one :authority/,
    ],
    [
      "a CONNECT request (no :scheme, no :path)",
      [":method", "CONNECT", ":authority", "x:443"],
      /exactly one/,
    ],
    ["an empty :path", [":method", "GET", ":scheme", "http", ":path", ""], /empty :path/],
    ["a response pseudo-header", request(":status", "200"), /pseudo-header ":status"/],
    [
      "a pseudo-header after a regular field",
      ["accept", "*/*", ...request()],
      /after a regular header/,
    ],
    ["an uppercase name", request("Accept", "*/*"), /not lowercase/],
    [
      "a connection header",
      request("transfer-encoding", "chunked"),
      /connection-specific header "transfer-encoding"/,
    ],
    ["te: gzip", request("te", "gzip"), /"te" header other than "trailers"/],
    ["a NUL in a value", request("x-a", "a\u0000b"), /control character/],
    ["a CR in a value", request("x-a", "a\rb"), /control character/],
    ["an empty name", request("", "x"), /empty header name/],
  ])("refuses %s", (_, fields, reason) => {
    expect(checkRequestFields(fields)).toMatch(reason);
  });
});

describe("checkTrailerFields", () => {
  it("accepts regular fields and refuses pseudo-headers, uppercase and connection headers", () => {
    expect(checkTrailerFields(["x-checksum", "abc", "grpc-status", "0"])).toBeUndefined();
    expect(checkTrailerFields([":path", "/x"])).toMatch(/pseudo-header ":path" in trailers/);
    expect(checkTrailerFields(["X-Checksum", "abc"])).toMatch(/not lowercase/);
    expect(checkTrailerFields(["connection", "close"])).toMatch(/connection-specific/);
    expect(checkTrailerFields(["x-a", "1\n2"])).toMatch(/control character/);
  });
});
