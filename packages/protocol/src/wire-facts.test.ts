import { describe, expect, it } from "vitest";
import {
  bearer,
  CORE_PROTOCOL_VERSION,
  capabilityEndpointUrl,
  joinProviderPath,
  MAGIC_COOKIE_KEY,
  MAGIC_COOKIE_VALUE,
  parseBearer,
  parseCapabilityRoute,
  parseServiceRoute,
  serviceEndpointUrl,
} from "./index.js";

describe("defaults", () => {
  it("match connect-plugin-go", () => {
    expect(MAGIC_COOKIE_KEY).toBe("CONNECT_PLUGIN");
    expect(MAGIC_COOKIE_VALUE).toBe("d3f40b3c2e1a5f8b9c4d7e6a1b2c3d4e");
    expect(CORE_PROTOCOL_VERSION).toBe(1);
  });
});

describe("bearer", () => {
  it("round-trips a token", () => {
    expect(bearer("abc")).toBe("Bearer abc");
    expect(parseBearer("Bearer abc")).toBe("abc");
    expect(parseBearer("bearer abc")).toBe("abc");
  });
  it.each([
    [undefined],
    [null],
    [""],
    ["Bearer"],
    ["Bearer "],
    ["Bearer  abc"],
    ["Basic abc"],
    ["Bearerabc"],
    ["Bearer abc "],
  ])("rejects %j", (value) => {
    expect(parseBearer(value)).toBeUndefined();
  });
});

describe("service routes", () => {
  it("builds the discovery endpoint url", () => {
    expect(serviceEndpointUrl("logger", "kv-plugin-a1b2")).toBe("/services/logger/kv-plugin-a1b2");
  });
  it.each([
    ["/services/logger/p1/Log", { serviceType: "logger", providerId: "p1", rest: "Log" }],
    [
      "/services/kv/p1/kv.v1.KVService/Put",
      { serviceType: "kv", providerId: "p1", rest: "kv.v1.KVService/Put" },
    ],
    ["/services/kv/p1", { serviceType: "kv", providerId: "p1", rest: "" }],
    ["/services/kv/p1/Put?x=1", { serviceType: "kv", providerId: "p1", rest: "Put" }],
  ])("parses %s", (path, expected) => {
    expect(parseServiceRoute(path)).toEqual(expected);
  });
  it.each([
    "/service/kv/p1/Put",
    "/services/",
    "/services/kv",
    "/services//p1/x",
    "/services/kv//x",
  ])("rejects %s", (path) => {
    expect(parseServiceRoute(path)).toBeUndefined();
  });
  it.each([
    ["/logger.v1.Logger/", "Log", "/logger.v1.Logger/Log"],
    ["/logger.v1.Logger/", "logger.v1.Logger/Log", "/logger.v1.Logger/Log"],
    ["/logger.v1.Logger", "Log", "/logger.v1.Logger/Log"],
    ["/", "kv.v1.KVService/Put", "/kv.v1.KVService/Put"],
    ["/api/kv.v1.KVService/", "kv.v1.KVService/Put", "/api/kv.v1.KVService/Put"],
    ["/kv.v1.KVService/", "other.v1.Other/Put", "/kv.v1.KVService/other.v1.Other/Put"],
  ])("joins %s + %s", (endpointPath, rest, expected) => {
    expect(joinProviderPath(endpointPath, rest)).toBe(expected);
  });
});

describe("capability routes", () => {
  it("builds a grant endpoint url", () => {
    expect(capabilityEndpointUrl("http://127.0.0.1:8080/", "logger", "g1")).toBe(
      "http://127.0.0.1:8080/capabilities/logger/g1",
    );
  });
  it("parses a capability call path", () => {
    expect(parseCapabilityRoute("/capabilities/logger/g1/capability.logger.v1.Logger/Log")).toEqual(
      {
        capabilityType: "logger",
        grantId: "g1",
        procedure: "/capability.logger.v1.Logger/Log",
      },
    );
    expect(parseCapabilityRoute("/capabilities/logger/g1")).toEqual({
      capabilityType: "logger",
      grantId: "g1",
      procedure: "",
    });
  });
  it.each(["/capabilities/", "/capabilities/logger", "/capabilities/logger/", "/other/logger/g1"])(
    "rejects %s",
    (path) => {
      expect(parseCapabilityRoute(path)).toBeUndefined();
    },
  );
});
