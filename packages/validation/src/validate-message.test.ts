import { create } from "@bufbuild/protobuf";
import {
  DiscoverServiceRequestSchema,
  DiscoverServiceResponseSchema,
  HandshakeRequestSchema,
  HealthState,
  LogRequestSchema,
  RegisterServiceRequestSchema,
  ReportHealthRequestSchema,
  RequestCapabilityRequestSchema,
  SetRuntimeIdentityRequestSchema,
  UnregisterServiceRequestSchema,
  WatchServiceRequestSchema,
} from "@cpg/protocol";
import { describe, expect, it } from "vitest";
import { caught, describeError } from "./test-arbitraries.js";
import { VALIDATED_MESSAGE_TYPES, validateMessage } from "./validate-message.js";

const PATTERN = 'must start with a letter and contain only letters, digits, "_", ".", "-"';

const validRegistration = {
  serviceType: "kv",
  version: "1.2.0",
  endpointPath: "/kv.v1.KVService/",
  metadata: { base_url: "http://10.0.0.7:8082", zone: "a" },
};

describe("validateMessage", () => {
  it("covers the cpg request messages", () => {
    expect([...VALIDATED_MESSAGE_TYPES].sort()).toEqual([
      "connectplugin.v1.DiscoverServiceRequest",
      "connectplugin.v1.HandshakeRequest",
      "connectplugin.v1.RegisterServiceRequest",
      "connectplugin.v1.ReportHealthRequest",
      "connectplugin.v1.RequestCapabilityRequest",
      "connectplugin.v1.UnregisterServiceRequest",
      "connectplugin.v1.WatchServiceRequest",
    ]);
  });

  it.each([
    create(RegisterServiceRequestSchema, validRegistration),
    create(RegisterServiceRequestSchema, { ...validRegistration, metadata: {} }),
    create(UnregisterServiceRequestSchema, { registrationId: "reg-1" }),
    create(DiscoverServiceRequestSchema, { serviceType: "kv" }),
    create(DiscoverServiceRequestSchema, { serviceType: "kv", minVersion: "1.0.0" }),
    create(WatchServiceRequestSchema, { serviceType: "kv" }),
    create(ReportHealthRequestSchema, {
      state: HealthState.DEGRADED,
      reason: "cache down",
      unavailableDependencies: ["cache"],
    }),
    create(ReportHealthRequestSchema, {}),
    create(RequestCapabilityRequestSchema, { capabilityType: "logger", reason: "audit" }),
    create(HandshakeRequestSchema, {
      clientMetadata: { client_version: "0.1.0" },
      requestedPlugins: ["kv"],
      selfVersion: "dev",
    }),
    create(HandshakeRequestSchema, {}),
  ])("accepts a valid $typeName", (message) => {
    expect(caught(() => validateMessage(message))).toBeUndefined();
  });

  it.each([
    [
      create(RegisterServiceRequestSchema, { ...validRegistration, serviceType: "1kv" }),
      `service type "1kv" ${PATTERN}`,
      "service_type",
    ],
    [
      create(RegisterServiceRequestSchema, { ...validRegistration, version: "v1.2.0" }),
      'version "v1.2.0" must be semantic (MAJOR.MINOR.PATCH[-prerelease]) without a "v" prefix',
      "version",
    ],
    [
      create(RegisterServiceRequestSchema, { ...validRegistration, endpointPath: "kv" }),
      'endpoint path must start with "/"',
      "endpoint_path",
    ],
    [
      create(RegisterServiceRequestSchema, { ...validRegistration, metadata: { "a b": "1" } }),
      `metadata key "a b" ${PATTERN}`,
      "metadata.key",
    ],
    [
      create(RegisterServiceRequestSchema, {
        ...validRegistration,
        metadata: { base_url: "http://admin:pw@10.0.0.7" },
      }),
      "base URL must not contain credentials",
      "base_url",
    ],
    [
      create(RegisterServiceRequestSchema, {
        ...validRegistration,
        metadata: { base_url: "" },
      }),
      "base URL must not be empty",
      "base_url",
    ],
    [
      create(UnregisterServiceRequestSchema, {}),
      "registration ID must not be empty",
      "registration_id",
    ],
    [
      create(UnregisterServiceRequestSchema, { registrationId: "r".repeat(129) }),
      "registration ID too long: 129 bytes (max: 128)",
      "registration_id",
    ],
    [create(DiscoverServiceRequestSchema, {}), "service type must not be empty", "service_type"],
    [
      create(DiscoverServiceRequestSchema, { serviceType: "kv", minVersion: "1" }),
      'min version "1" must be semantic (MAJOR.MINOR.PATCH[-prerelease]) without a "v" prefix',
      "min_version",
    ],
    [
      create(WatchServiceRequestSchema, { serviceType: "a..b" }),
      'service type "a..b" must not contain ".."',
      "service_type",
    ],
    [
      create(ReportHealthRequestSchema, { state: 9 as HealthState }),
      "health state 9 is not a known value (known: 0..3)",
      "state",
    ],
    [
      create(ReportHealthRequestSchema, { reason: "x".repeat(1025) }),
      "health reason too long: 1025 bytes (max: 1024)",
      "reason",
    ],
    [
      create(ReportHealthRequestSchema, { unavailableDependencies: ["ok", "../x"] }),
      `dependency "../x" ${PATTERN}`,
      "unavailable_dependencies",
    ],
    [
      create(RequestCapabilityRequestSchema, {}),
      "capability type must not be empty",
      "capability_type",
    ],
    [
      create(RequestCapabilityRequestSchema, { capabilityType: "logger", minVersion: "latest" }),
      'min version "latest" must be semantic (MAJOR.MINOR.PATCH[-prerelease]) without a "v" prefix',
      "min_version",
    ],
    [
      create(RequestCapabilityRequestSchema, { capabilityType: "logger", reason: "\u0000" }),
      "grant reason contains a NUL byte",
      "reason",
    ],
    [
      create(HandshakeRequestSchema, { clientMetadata: { "": "x" } }),
      "client metadata key must not be empty",
      "client_metadata.key",
    ],
    [
      create(HandshakeRequestSchema, { requestedPlugins: ["p".repeat(129)] }),
      "requested plugin too long: 129 bytes (max: 128)",
      "requested_plugins",
    ],
    [
      create(HandshakeRequestSchema, { selfVersion: "1".repeat(65) }),
      "self version too long: 65 bytes (max: 64)",
      "self_version",
    ],
  ])("rejects %#: %s", (message, expected, field) => {
    const error = caught(() => validateMessage(message));
    expect(error?.message).toBe(expected);
    expect(error?.field).toBe(field);
  });

  it("reports the first invalid field in field order", () => {
    const message = create(RegisterServiceRequestSchema, {
      serviceType: "",
      version: "bad",
      endpointPath: "bad",
    });
    expect(caught(() => validateMessage(message))?.field).toBe("service_type");
  });

  it("leaves self_id of a handshake to the handshake handler", () => {
    const message = create(HandshakeRequestSchema, { selfId: "1 not valid", magicCookieKey: "x" });
    expect(caught(() => validateMessage(message))).toBeUndefined();
  });

  it.each([
    create(SetRuntimeIdentityRequestSchema, { runtimeId: "\u0000", hostUrl: "not a url" }),
    create(DiscoverServiceResponseSchema, {}),
    create(LogRequestSchema, { message: "\u0000".repeat(10_000) }),
    { $typeName: "example.v1.Unknown", serviceType: "" },
  ])("passes $typeName untouched", (message) => {
    expect(caught(() => validateMessage(message))).toBeUndefined();
  });

  it("passes values that are not messages", () => {
    expect(caught(() => validateMessage(null as never))).toBeUndefined();
    expect(caught(() => validateMessage("x" as never))).toBeUndefined();
  });

  it("reports hand-built messages with missing fields instead of crashing", () => {
    const message = { $typeName: "connectplugin.v1.WatchServiceRequest" };
    expect(describeError(caught(() => validateMessage(message)))).toEqual({
      message: "service type must be a string",
      field: "service_type",
      code: "invalid_format",
      limit: undefined,
    });
  });

  describe("options", () => {
    it("applies the base URL allow-list to registrations", () => {
      const options = { allowedHosts: ["10.0.0.0/8"] };
      expect(
        caught(() =>
          validateMessage(create(RegisterServiceRequestSchema, validRegistration), options),
        ),
      ).toBeUndefined();
      const outside = create(RegisterServiceRequestSchema, {
        ...validRegistration,
        metadata: { base_url: "http://192.168.0.5:8082" },
      });
      expect(describeError(caught(() => validateMessage(outside, options)))).toEqual({
        message: 'base URL host "192.168.0.5" is not in the allowed hosts',
        field: "base_url",
        code: "not_allowed",
        limit: undefined,
      });
      // Without a base_url there is nothing to check.
      const noUrl = create(RegisterServiceRequestSchema, { ...validRegistration, metadata: {} });
      expect(caught(() => validateMessage(noUrl, options))).toBeUndefined();
    });

    it("applies configured limits", () => {
      const message = create(WatchServiceRequestSchema, { serviceType: "kv.store" });
      expect(
        caught(() => validateMessage(message, { limits: { maxServiceTypeBytes: 4 } }))?.message,
      ).toBe("service type too long: 8 bytes (max: 4)");
    });

    it("checks the metadata limit before the base URL", () => {
      const message = create(RegisterServiceRequestSchema, {
        ...validRegistration,
        metadata: { base_url: `http://a/${"x".repeat(5000)}` },
      });
      expect(caught(() => validateMessage(message))?.message).toBe(
        'metadata value for "base_url" too long: 5009 bytes (max: 4096)',
      );
    });
  });
});
