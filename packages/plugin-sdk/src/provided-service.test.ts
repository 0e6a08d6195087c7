import { grpcHealthV1, Logger, PluginControl } from "@cpg/protocol";
import { describe, expect, it } from "vitest";
import { defaultServiceType, describeProvidedService, provide } from "./provided-service.js";
import { KVService } from "./test-support/kv-service.js";

describe("defaultServiceType", () => {
  it.each([
    ["KVService", KVService, "kv"],
    ["Logger", Logger, "logger"],
    ["PluginControl", PluginControl, "plugincontrol"],
    ["Health", grpcHealthV1.Health, "health"],
  ])("%s -> %s", (_, service, type) => {
    expect(defaultServiceType(service)).toBe(type);
  });

  it('keeps a service named just "Service"', () => {
    expect(defaultServiceType({ ...Logger, name: "Service" })).toBe("service");
  });
});

describe("provide", () => {
  it("pairs a descriptor with its implementation", () => {
    const implementation = { log: () => ({}) };
    expect(provide(Logger, implementation)).toEqual({ service: Logger, implementation });
  });

  it("carries an explicit type and version", () => {
    const provided = provide(KVService, {}, { type: "store", version: "2.0.0" });
    expect([provided.type, provided.version]).toEqual(["store", "2.0.0"]);
  });
});

describe("describeProvidedService", () => {
  it("derives type, version and the path relative to the plugin base URL", () => {
    expect(describeProvidedService(provide(KVService, {}), "1.4.0")).toEqual({
      type: "kv",
      version: "1.4.0",
      path: "/kv.v1.KVService/",
      service: KVService,
    });
  });

  it("uses the given type and version", () => {
    const info = describeProvidedService(
      provide(Logger, {}, { type: "audit-log", version: "0.3.0" }),
      "1.0.0",
    );
    expect([info.type, info.version, info.path]).toEqual([
      "audit-log",
      "0.3.0",
      "/capability.logger.v1.Logger/",
    ]);
  });
});
