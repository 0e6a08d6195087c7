/**
 * The wire contract with connect-plugin-go, checked against the generated
 * descriptors. Every service path, field number, field type and enum value
 * listed in the wire specification is spelled out here once; a proto change
 * that breaks compatibility with Go peers fails this test.
 */
import { type DescEnum, type DescMessage, type DescService, ScalarType } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import * as proto from "./index.js";

type FieldSpec =
  | readonly [number, string, "string" | "int32" | "int64" | "bool"]
  | readonly [number, string, "repeated string"]
  | readonly [number, string, "map<string,string>"]
  | readonly [number, string, `message ${string}`]
  | readonly [number, string, `repeated ${string}`]
  | readonly [number, string, `enum ${string}`];

const messages: Record<string, readonly FieldSpec[]> = {
  "connectplugin.v1.HandshakeRequest": [
    [1, "core_protocol_version", "int32"],
    [2, "app_protocol_version", "int32"],
    [3, "magic_cookie_key", "string"],
    [4, "magic_cookie_value", "string"],
    [5, "requested_plugins", "repeated string"],
    [6, "client_metadata", "map<string,string>"],
    [10, "self_id", "string"],
    [11, "self_version", "string"],
  ],
  "connectplugin.v1.HandshakeResponse": [
    [1, "core_protocol_version", "int32"],
    [2, "app_protocol_version", "int32"],
    [3, "plugins", "repeated connectplugin.v1.PluginInfo"],
    [4, "server_metadata", "map<string,string>"],
    [5, "host_capabilities", "repeated connectplugin.v1.Capability"],
    [10, "runtime_id", "string"],
    [11, "runtime_token", "string"],
  ],
  "connectplugin.v1.PluginInfo": [
    [1, "name", "string"],
    [2, "version", "string"],
    [3, "service_path", "string"],
    [10, "provides", "repeated connectplugin.v1.ServiceDeclaration"],
    [11, "requires", "repeated connectplugin.v1.ServiceDependency"],
  ],
  "connectplugin.v1.Capability": [
    [1, "type", "string"],
    [2, "version", "string"],
    [3, "endpoint", "string"],
  ],
  "connectplugin.v1.ServiceDeclaration": [
    [1, "type", "string"],
    [2, "version", "string"],
    [3, "path", "string"],
  ],
  "connectplugin.v1.ServiceDependency": [
    [1, "type", "string"],
    [2, "min_version", "string"],
    [3, "required_for_startup", "bool"],
    [4, "watch_for_changes", "bool"],
  ],
  "connectplugin.v1.RequestCapabilityRequest": [
    [1, "capability_type", "string"],
    [2, "min_version", "string"],
    [3, "reason", "string"],
  ],
  "connectplugin.v1.RequestCapabilityResponse": [
    [1, "grant", "message connectplugin.v1.CapabilityGrant"],
  ],
  "connectplugin.v1.CapabilityGrant": [
    [1, "grant_id", "string"],
    [2, "endpoint_url", "string"],
    [3, "bearer_token", "string"],
    [4, "capability_type", "string"],
    [5, "version", "string"],
  ],
  "connectplugin.v1.RegisterServiceRequest": [
    [1, "service_type", "string"],
    [2, "version", "string"],
    [3, "endpoint_path", "string"],
    [4, "metadata", "map<string,string>"],
  ],
  "connectplugin.v1.RegisterServiceResponse": [[1, "registration_id", "string"]],
  "connectplugin.v1.UnregisterServiceRequest": [[1, "registration_id", "string"]],
  "connectplugin.v1.UnregisterServiceResponse": [],
  "connectplugin.v1.DiscoverServiceRequest": [
    [1, "service_type", "string"],
    [2, "min_version", "string"],
  ],
  "connectplugin.v1.DiscoverServiceResponse": [
    [1, "endpoint", "message connectplugin.v1.ServiceEndpoint"],
    [2, "single_provider", "bool"],
  ],
  "connectplugin.v1.ServiceEndpoint": [
    [1, "provider_id", "string"],
    [2, "version", "string"],
    [3, "endpoint_url", "string"],
    [4, "metadata", "map<string,string>"],
  ],
  "connectplugin.v1.WatchServiceRequest": [[1, "service_type", "string"]],
  "connectplugin.v1.WatchServiceEvent": [
    [1, "service_type", "string"],
    [2, "state", "enum connectplugin.v1.ServiceState"],
    [3, "endpoint", "message connectplugin.v1.ServiceEndpoint"],
  ],
  "connectplugin.v1.ReportHealthRequest": [
    [1, "state", "enum connectplugin.v1.HealthState"],
    [2, "reason", "string"],
    [3, "unavailable_dependencies", "repeated string"],
  ],
  "connectplugin.v1.ReportHealthResponse": [],
  "connectplugin.v1.GetHealthRequest": [],
  "connectplugin.v1.GetHealthResponse": [
    [1, "state", "enum connectplugin.v1.HealthState"],
    [2, "reason", "string"],
    [3, "unavailable_dependencies", "repeated string"],
  ],
  "connectplugin.v1.ShutdownRequest": [
    [1, "grace_period_seconds", "int32"],
    [2, "reason", "string"],
  ],
  "connectplugin.v1.ShutdownResponse": [[1, "acknowledged", "bool"]],
  "connectplugin.v1.GetPluginInfoRequest": [],
  "connectplugin.v1.GetPluginInfoResponse": [
    [1, "self_id", "string"],
    [2, "self_version", "string"],
    [3, "provides", "repeated connectplugin.v1.ServiceDeclaration"],
    [4, "requires", "repeated connectplugin.v1.ServiceDependency"],
    [5, "metadata", "map<string,string>"],
  ],
  "connectplugin.v1.SetRuntimeIdentityRequest": [
    [1, "runtime_id", "string"],
    [2, "runtime_token", "string"],
    [3, "host_url", "string"],
  ],
  "connectplugin.v1.SetRuntimeIdentityResponse": [[1, "acknowledged", "bool"]],
  "connectplugin.health.v1.HealthCheckRequest": [[1, "service", "string"]],
  "connectplugin.health.v1.HealthCheckResponse": [
    [1, "status", "enum connectplugin.health.v1.ServingStatus"],
  ],
  "capability.logger.v1.LogRequest": [
    [1, "level", "string"],
    [2, "message", "string"],
    [3, "fields", "map<string,string>"],
  ],
  "capability.logger.v1.LogResponse": [],
};

const enums: Record<string, readonly string[]> = {
  "connectplugin.v1.HealthState": [
    "HEALTH_STATE_UNSPECIFIED",
    "HEALTH_STATE_HEALTHY",
    "HEALTH_STATE_DEGRADED",
    "HEALTH_STATE_UNHEALTHY",
  ],
  "connectplugin.v1.ServiceState": [
    "SERVICE_STATE_UNSPECIFIED",
    "SERVICE_STATE_AVAILABLE",
    "SERVICE_STATE_UNAVAILABLE",
    "SERVICE_STATE_DEGRADED",
  ],
  "connectplugin.health.v1.ServingStatus": [
    "SERVING_STATUS_UNSPECIFIED",
    "SERVING_STATUS_SERVING",
    "SERVING_STATUS_NOT_SERVING",
    "SERVING_STATUS_SERVICE_UNKNOWN",
  ],
  "grpc.health.v1.HealthCheckResponse.ServingStatus": [
    "UNKNOWN",
    "SERVING",
    "NOT_SERVING",
    "SERVICE_UNKNOWN",
  ],
};

type Kind = "unary" | "server_streaming";
const services: Record<string, Record<string, Kind>> = {
  "connectplugin.v1.HandshakeService": { Handshake: "unary" },
  "connectplugin.v1.ServiceRegistry": {
    RegisterService: "unary",
    UnregisterService: "unary",
    DiscoverService: "unary",
    WatchService: "server_streaming",
  },
  "connectplugin.v1.PluginLifecycle": { ReportHealth: "unary" },
  "connectplugin.v1.CapabilityBroker": { RequestCapability: "unary" },
  "connectplugin.v1.PluginControl": { GetHealth: "unary", Shutdown: "unary" },
  "connectplugin.v1.PluginIdentity": { GetPluginInfo: "unary", SetRuntimeIdentity: "unary" },
  "connectplugin.health.v1.HealthService": { Check: "unary", Watch: "server_streaming" },
  "capability.logger.v1.Logger": { Log: "unary" },
  "grpc.health.v1.Health": { Check: "unary", List: "unary", Watch: "server_streaming" },
};

// Every descriptor the package exports, collected by walking its exports.
function collect() {
  const msgs = new Map<string, DescMessage>();
  const ens = new Map<string, DescEnum>();
  const svcs = new Map<string, DescService>();
  const visit = (value: unknown) => {
    if (typeof value !== "object" || value === null || !("kind" in value)) {
      if (typeof value === "object" && value !== null) {
        for (const v of Object.values(value)) visit(v);
      }
      return;
    }
    const desc = value as DescMessage | DescEnum | DescService | { kind: string };
    if (desc.kind === "message") {
      const m = desc as DescMessage;
      msgs.set(m.typeName, m);
      for (const e of m.nestedEnums) ens.set(e.typeName, e);
    } else if (desc.kind === "enum") {
      ens.set((desc as DescEnum).typeName, desc as DescEnum);
    } else if (desc.kind === "service") {
      svcs.set((desc as DescService).typeName, desc as DescService);
    }
  };
  visit(proto);
  return { msgs, ens, svcs };
}

function describeField(f: DescMessage["fields"][number]): string {
  switch (f.fieldKind) {
    case "scalar":
      return ScalarType[f.scalar].toLowerCase();
    case "enum":
      return `enum ${f.enum.typeName}`;
    case "message":
      return `message ${f.message.typeName}`;
    case "list":
      if (f.listKind === "scalar") return `repeated ${ScalarType[f.scalar].toLowerCase()}`;
      if (f.listKind === "enum") return `repeated ${f.enum.typeName}`;
      return `repeated ${f.message.typeName}`;
    case "map": {
      const value =
        f.mapKind === "scalar"
          ? ScalarType[f.scalar].toLowerCase()
          : f.mapKind === "enum"
            ? f.enum.typeName
            : f.message.typeName;
      return `map<${ScalarType[f.mapKey].toLowerCase()},${value}>`;
    }
  }
}

const { msgs, ens, svcs } = collect();

describe("wire contract with connect-plugin-go", () => {
  describe.each(Object.entries(messages))("message %s", (typeName, fields) => {
    it("has every field with its number, name and type", () => {
      const desc = msgs.get(typeName);
      expect(desc, `${typeName} is missing`).toBeDefined();
      for (const [no, name, type] of fields) {
        const field = desc!.fields.find((f) => f.number === no);
        expect(field, `${typeName} field ${no} is missing`).toBeDefined();
        expect(`${field!.number} ${field!.name} ${describeField(field!)}`).toBe(
          `${no} ${name} ${type}`,
        );
      }
    });
    it("adds fields only with numbers 20 and above", () => {
      const desc = msgs.get(typeName)!;
      const listed = new Set(fields.map(([no]) => no));
      for (const field of desc.fields) {
        if (!listed.has(field.number)) {
          expect(field.number, `${typeName}.${field.name} is an extension`).toBeGreaterThanOrEqual(
            20,
          );
        }
      }
    });
  });

  it.each(Object.entries(enums))("enum %s has its values in order", (typeName, values) => {
    const desc = ens.get(typeName);
    expect(desc, `${typeName} is missing`).toBeDefined();
    expect(desc!.values.map((v) => [v.number, v.name])).toEqual(values.map((v, i) => [i, v]));
  });

  it.each(Object.entries(services))("service %s has its procedures", (typeName, methods) => {
    const desc = svcs.get(typeName);
    expect(desc, `${typeName} is missing`).toBeDefined();
    const actual = Object.fromEntries(desc!.methods.map((m) => [m.name, m.methodKind]));
    expect(actual).toEqual(methods);
    for (const m of desc!.methods) {
      // The procedure path is /<package>.<Service>/<Method>.
      expect(`/${m.parent.typeName}/${m.name}`).toBe(`/${typeName}/${m.name}`);
    }
  });

  it("keeps the proto file layout of the Go original", () => {
    const files = new Set([...svcs.values()].map((s) => s.file.name));
    expect([...files].sort()).toEqual([
      "capability/logger/v1/logger",
      "capability/store/v1/store",
      "cpg/admin/v1/admin",
      "grpc/health/v1/health",
      "plugin/v1/broker",
      "plugin/v1/handshake",
      "plugin/v1/health",
      "plugin/v1/lifecycle",
      "plugin/v1/plugininfo",
      "plugin/v1/registry",
    ]);
    expect(
      msgs.get("connectplugin.v1.GetPluginInfoResponse")!.file.dependencies.map((d) => d.name),
    ).toContain("plugin/v1/handshake");
  });
});
