import { describe, expect, it } from "vitest";
import {
  fieldValue,
  requestFields,
  requestHeaders,
  responseFieldHeaders,
} from "./forwarded-headers.js";

describe("forwarded headers", () => {
  it("requestHeaders drops pseudo-headers, hop-by-hop headers, credentials and deadlines", () => {
    expect(
      requestHeaders({
        ":path": "/x",
        "content-type": "application/grpc",
        authorization: "Bearer t",
        "x-api-key": "k",
        connection: "keep-alive",
        te: "trailers",
        "grpc-timeout": "1S",
        "x-trace": "abc",
      }),
    ).toEqual({ "content-type": "application/grpc", "x-trace": "abc" });
  });

  it("requestFields puts the pseudo-headers first and gives each value of a list its own field", () => {
    expect(
      requestFields("POST", "https", "provider:8443", "/svc/Method?q=1", {
        "content-type": "application/grpc",
        "x-multi": ["a", "b"],
      }),
    ).toEqual([
      ":method",
      "POST",
      ":scheme",
      "https",
      ":authority",
      "provider:8443",
      ":path",
      "/svc/Method?q=1",
      "content-type",
      "application/grpc",
      "x-multi",
      "a",
      "x-multi",
      "b",
    ]);
  });

  it("responseFieldHeaders keeps every value of a repeated name and drops pseudo and connection headers", () => {
    const fields = [
      ":status",
      "200",
      "content-type",
      "application/grpc",
      "set-cookie",
      "a=1",
      "connection",
      "close",
      "set-cookie",
      "b=2",
      "set-cookie",
      "c=3",
    ];
    expect(responseFieldHeaders(fields, 200)).toEqual({
      ":status": 200,
      "content-type": "application/grpc",
      "set-cookie": ["a=1", "b=2", "c=3"],
    });
    expect(responseFieldHeaders(fields, undefined)).not.toHaveProperty(":status");
  });

  it("fieldValue finds the first value of a name", () => {
    const fields = ["grpc-status", "5", "grpc-message", "no", "grpc-status", "0"];
    expect(fieldValue(fields, "grpc-status")).toBe("5");
    expect(fieldValue(fields, "grpc-message")).toBe("no");
    expect(fieldValue(fields, "x")).toBeUndefined();
  });
});
