import { Logger } from "@cpg/protocol";
import { afterEach, describe, expect, it, vi } from "vitest";
import { silentLogger } from "./logging/logger.js";
import { createPlugin } from "./plugin.js";
import { isPluginError, type PluginError } from "./plugin-error.js";
import { type PluginOptions, resolvePluginOptions } from "./plugin-options.js";
import { provide } from "./provided-service.js";
import { KVService } from "./test-support/kv-service.js";

afterEach(() => {
  vi.unstubAllEnvs();
});

const base: PluginOptions = { selfId: "kv-store", version: "1.0.0", logger: silentLogger };

function configError(options: PluginOptions): PluginError {
  try {
    createPlugin(options);
  } catch (error) {
    if (isPluginError(error)) return error;
    throw error;
  }
  throw new Error("createPlugin accepted the options");
}

describe("createPlugin refuses invalid options with invalid_config", () => {
  it.each<[string, Partial<PluginOptions>, string]>([
    ["an empty selfId", { selfId: "" }, "selfId: self ID must not be empty"],
    [
      "a selfId starting with a digit",
      { selfId: "1kv" },
      'selfId: self ID "1kv" must start with a letter and contain only letters, digits, "_", ".", "-"',
    ],
    [
      "a selfId with a space",
      { selfId: "kv store" },
      'selfId: self ID "kv store" must start with a letter and contain only letters, digits, "_", ".", "-"',
    ],
    [
      'version "v1.0.0"',
      { version: "v1.0.0" },
      'version: version "v1.0.0" must be semantic (MAJOR.MINOR.PATCH[-prerelease]) without a "v" prefix',
    ],
    [
      "a service version with a v prefix",
      { services: [provide(KVService, {}, { version: "v2" })] },
      'service kv.v1.KVService: version "v2" must be semantic (MAJOR.MINOR.PATCH[-prerelease]) without a "v" prefix',
    ],
    [
      "a service type with ..",
      { services: [provide(KVService, {}, { type: "kv..store" })] },
      'service kv.v1.KVService: service type "kv..store" must not contain ".."',
    ],
    [
      "the same service twice",
      { services: [provide(KVService, {}), provide(KVService, {}, { type: "kv2" })] },
      "service kv.v1.KVService is provided twice",
    ],
    [
      "a required type with ..",
      { requires: [{ type: "a..b" }] },
      'requires a..b: service type "a..b" must not contain ".."',
    ],
    [
      "a required minVersion with a v prefix",
      { requires: [{ type: "cache", minVersion: "v2" }] },
      'requires cache: version "v2" must be semantic (MAJOR.MINOR.PATCH[-prerelease]) without a "v" prefix',
    ],
    [
      "a metadata key that is not an identifier",
      { metadata: { "1team": "storage" } },
      'metadata: metadata key "1team" must start with a letter and contain only letters, digits, "_", ".", "-"',
    ],
    ["refreshAfter 0", { refreshAfter: 0 }, "refreshAfter must be between 0 and 1, got 0"],
    ["refreshAfter 1", { refreshAfter: 1 }, "refreshAfter must be between 0 and 1, got 1"],
    [
      "refreshAfter NaN",
      { refreshAfter: Number.NaN },
      "refreshAfter must be between 0 and 1, got NaN",
    ],
    [
      "no appProtocolVersions",
      { appProtocolVersions: [] },
      "appProtocolVersions must be a non-empty list of positive integers, got []",
    ],
    [
      "appProtocolVersions with 0",
      { appProtocolVersions: [1, 0] },
      "appProtocolVersions must be a non-empty list of positive integers, got [1, 0]",
    ],
    [
      "appProtocolVersions with a fraction",
      { appProtocolVersions: [1.5] },
      "appProtocolVersions must be a non-empty list of positive integers, got [1.5]",
    ],
    [
      "a hostUrl without a scheme",
      { hostUrl: "127.0.0.1:8080" },
      'hostUrl: "127.0.0.1:8080" is not an absolute http:// or https:// URL',
    ],
    [
      "a hostUrl list with a bad entry",
      { hostUrl: ["http://10.0.0.1:8080", "grpc://10.0.0.2:8080"] },
      'hostUrl: "grpc://10.0.0.2:8080" is not an absolute http:// or https:// URL',
    ],
    [
      "a comma-separated hostUrl with a bad entry",
      { hostUrl: "http://10.0.0.1:8080, nope" },
      'hostUrl: "nope" is not an absolute http:// or https:// URL',
    ],
    [
      "healthReportIntervalMs -1",
      { healthReportIntervalMs: -1 },
      "healthReportIntervalMs must be an integer from 0 (no periodic reports) to 2147483647, got -1",
    ],
    [
      "healthReportIntervalMs 2.5",
      { healthReportIntervalMs: 2.5 },
      "healthReportIntervalMs must be an integer from 0 (no periodic reports) to 2147483647, got 2.5",
    ],
    [
      "healthReportIntervalMs NaN",
      { healthReportIntervalMs: Number.NaN },
      "healthReportIntervalMs must be an integer from 0 (no periodic reports) to 2147483647, got NaN",
    ],
    [
      "healthReportIntervalMs Infinity",
      { healthReportIntervalMs: Number.POSITIVE_INFINITY },
      "healthReportIntervalMs must be an integer from 0 (no periodic reports) to 2147483647, got Infinity",
    ],
    [
      "healthReportIntervalMs beyond what timers take",
      { healthReportIntervalMs: 2 ** 31 },
      "healthReportIntervalMs must be an integer from 0 (no periodic reports) to 2147483647, got 2147483648",
    ],
  ])("%s", (_, override, message) => {
    const error = configError({ ...base, ...override });
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe("PluginError");
    expect(error.code).toBe("invalid_config");
    expect(error.message).toBe(message);
  });

  it("names HOST_URL when an entry there is bad", () => {
    vi.stubEnv("HOST_URL", "http://10.0.0.1:8080,10.0.0.2:8080");
    const error = configError(base);
    expect([error.code, error.message]).toEqual([
      "invalid_config",
      'HOST_URL: "10.0.0.2:8080" is not an absolute http:// or https:// URL',
    ]);
  });

  it("keeps the validation error as cause", () => {
    const error = configError({ ...base, selfId: "" });
    expect((error.cause as Error).message).toBe("self ID must not be empty");
  });
});

describe("resolvePluginOptions", () => {
  it("applies the defaults", () => {
    vi.stubEnv("HOST_URL", "");
    vi.stubEnv("CPG_LAUNCH_SECRET", "");
    const resolved = resolvePluginOptions(base);
    expect(resolved).toMatchObject({
      selfId: "kv-store",
      version: "1.0.0",
      services: [],
      declarations: [],
      requires: [],
      metadata: {},
      hostUrl: undefined,
      hostProtocol: "connect",
      hostTls: undefined,
      tls: undefined,
      appProtocolVersions: [1],
      magicCookie: { key: "CONNECT_PLUGIN", value: "d3f40b3c2e1a5f8b9c4d7e6a1b2c3d4e" },
      launchSecret: undefined,
      refreshAfter: 0.8,
    });
  });

  it("reads HOST_URL and CPG_LAUNCH_SECRET from the environment, trimming a trailing slash", () => {
    vi.stubEnv("HOST_URL", "http://127.0.0.1:8080/");
    vi.stubEnv("CPG_LAUNCH_SECRET", "s3cret");
    const resolved = resolvePluginOptions(base);
    expect([resolved.hostUrl, resolved.launchSecret]).toEqual(["http://127.0.0.1:8080", "s3cret"]);
  });

  it("reads several comma-separated host URLs from HOST_URL", () => {
    vi.stubEnv("HOST_URL", " http://10.0.0.1:8080/, ,http://10.0.0.2:8080 ,");
    const resolved = resolvePluginOptions(base);
    expect([resolved.hostUrls, resolved.hostUrl]).toEqual([
      ["http://10.0.0.1:8080", "http://10.0.0.2:8080"],
      "http://10.0.0.1:8080",
    ]);
  });

  it("takes hostUrl as one URL, a comma-separated string or an array", () => {
    vi.stubEnv("HOST_URL", "http://env:1");
    const urls = (hostUrl: string | readonly string[]) =>
      resolvePluginOptions({ ...base, hostUrl }).hostUrls;
    expect(urls("https://host.example:8443/")).toEqual(["https://host.example:8443"]);
    expect(urls("http://a:1,http://b:2/")).toEqual(["http://a:1", "http://b:2"]);
    expect(urls(["http://b:2/", "http://a:1"])).toEqual(["http://b:2", "http://a:1"]);
    // An empty list is no host: the environment is not consulted.
    expect(urls([])).toEqual([]);
  });

  it("has no host URLs when neither hostUrl nor HOST_URL names one", () => {
    vi.stubEnv("HOST_URL", "");
    expect(resolvePluginOptions(base).hostUrls).toEqual([]);
  });

  it("re-sends health every 10 s by default; 0 turns it off", () => {
    expect(resolvePluginOptions(base).healthReportIntervalMs).toBe(10_000);
    expect(
      resolvePluginOptions({ ...base, healthReportIntervalMs: 0 }).healthReportIntervalMs,
    ).toBe(0);
    expect(
      resolvePluginOptions({ ...base, healthReportIntervalMs: 2500 }).healthReportIntervalMs,
    ).toBe(2500);
  });

  it("prefers explicit options over the environment", () => {
    vi.stubEnv("HOST_URL", "http://env:1");
    vi.stubEnv("CPG_LAUNCH_SECRET", "from-env");
    const resolved = resolvePluginOptions({
      ...base,
      hostUrl: "https://host.example:8443",
      launchSecret: "explicit",
    });
    expect([resolved.hostUrl, resolved.launchSecret]).toEqual([
      "https://host.example:8443",
      "explicit",
    ]);
  });

  it("derives declarations and fills in requires defaults", () => {
    const resolved = resolvePluginOptions({
      ...base,
      services: [provide(KVService, {}), provide(Logger, {}, { type: "log", version: "3.0.0" })],
      requires: [{ type: "cache", minVersion: "1.0.0" }],
    });
    expect(
      resolved.declarations.map(({ type, version, path }) => ({ type, version, path })),
    ).toEqual([
      { type: "kv", version: "1.0.0", path: "/kv.v1.KVService/" },
      { type: "log", version: "3.0.0", path: "/capability.logger.v1.Logger/" },
    ]);
    expect(resolved.requires).toEqual([
      { type: "cache", minVersion: "1.0.0", requiredForStartup: true, watchForChanges: true },
    ]);
  });

  it("never mutates the caller's options", () => {
    const metadata = { team: "storage" };
    const versions = [2, 1];
    const options: PluginOptions = { ...base, metadata, appProtocolVersions: versions };
    const resolved = resolvePluginOptions(options);
    expect(resolved.metadata).not.toBe(metadata);
    expect(resolved.appProtocolVersions).not.toBe(versions);
    expect(options).toEqual({
      ...base,
      metadata: { team: "storage" },
      appProtocolVersions: [2, 1],
    });
  });
});
