import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import type { LogLevel } from "@cpg/plugin-sdk";
import { HostError } from "../host-error.js";
import type { HostOptions } from "../host-options.js";
import type { ManagedPluginSpec } from "../platform/managed-plugin-spec.js";
import { isSecurityProfile } from "../security/security-profile.js";
import { parseDuration } from "./duration.js";

/**
 * The `cpg-host` configuration file (JSON). Every field is optional; command
 * line flags override the file.
 *
 * ```json
 * {
 *   "host": "0.0.0.0",
 *   "port": 8443,
 *   "profile": "production",
 *   "tls": { "certFile": "host.pem", "keyFile": "host-key.pem", "caFile": "ca.pem", "clientAuth": "require" },
 *   "runtimeTokenTtl": "24h",
 *   "rateLimits": { "handshake": { "rate": 5, "burst": 20 }, "api": { "rate": 100, "burst": 200 } },
 *   "logLevel": "info"
 * }
 * ```
 */
export interface HostConfigFile {
  /** Address to bind. Default: `127.0.0.1`. */
  host?: string;
  /** Port; 0 picks a free one. Default: 8080. */
  port?: number;
  /** Security profile. Default: `development`. */
  profile?: string;
  /** Accept plaintext under `production`. Default: false. */
  allowInsecure?: boolean;
  /** TLS files, relative to the config file. Default: none. */
  tls?: { certFile?: string; keyFile?: string; caFile?: string; clientAuth?: string };
  /** Runtime token lifetime. Default: `24h`. */
  runtimeTokenTtl?: string | number;
  /** Rate limits. Default: see HostOptions.rateLimits. */
  rateLimits?: HostOptions["rateLimits"];
  /** Largest request message in bytes. Default: 4 MiB. */
  readMaxBytes?: number;
  /** Public base URL of the host. Default: the bound URL. */
  publicUrl?: string;
  /**
   * Where state lives: `"memory"` or a `redis://` URL (or the object form of
   * `HostOptions.store`) for replicas sharing it. Default: `"memory"`.
   */
  store?: HostOptions["store"];
  /** Lowest log level written. Default: `info`. */
  logLevel?: string;
  /** How long shutdown waits for in-flight calls. Default: `10s`. */
  shutdownTimeout?: string | number;
  /**
   * Plugins the host manages, started in dependency order once it listens:
   * `command` (absolute path) starts a process, `url` manages a running
   * plugin. Default: none.
   */
  plugins?: PluginConfig[];
  /** Directories process plugins' binaries must be in. Default: anywhere. */
  allowedBinaryDirs?: string[];
  /** Admin API access: API keys and operator certificate identities. Default: nobody. */
  admin?: HostOptions["admin"];
  /** Authorization allow-lists (registration, discovery, callers, capabilities). Default: by profile. */
  policies?: HostOptions["policies"];
  /** Hosts/CIDRs registered base_urls may point to. Default: by profile. */
  upstreamAllowList?: string[];
  /** Return base_url to discoverers. Default: false. */
  exposeBaseUrl?: boolean;
  /** first, round-robin, random or weighted. Default: round-robin. */
  selectionStrategy?: HostOptions["selectionStrategy"];
  /** Router settings (maxTimeoutMs, outlierThreshold, rateLimit). */
  router?: HostOptions["router"];
  /** Capability grant lifetime. Default: `1h`. */
  grantTtl?: string | number;
}

/**
 * A managed plugin in the configuration file.
 */
export interface PluginConfig {
  /** Unique name. Default for `url` entries: `remote-<index>`. */
  name?: string;
  /** Absolute path of the executable (a process plugin). */
  command?: string;
  /** Its arguments; relative paths are not resolved. */
  args?: string[];
  /** Extra environment. */
  env?: Record<string, string>;
  /** Working directory, relative to the config file. */
  cwd?: string;
  /**
   * How a process plugin learns its port: `"announce"` (it binds its own and
   * reports it; cpg SDK plugins) or `"env"` (it reads `PORT`; Go plugins).
   * Default: `"announce"`.
   */
  portHandoff?: "announce" | "env";
  /** URL of a running plugin (a remote plugin). */
  url?: string;
  /** Secret a remote plugin expects. */
  launchSecret?: string;
  /** Services it provides, for dependency order. */
  provides?: Array<{ type: string; version: string }>;
  /** Services it requires, for dependency order. */
  requires?: Array<{ type: string; minVersion?: string; requiredForStartup?: boolean }>;
}

function pluginSpec(p: PluginConfig, i: number): ManagedPluginSpec {
  if (typeof p !== "object" || p === null) invalid(`plugins[${i}] must be an object`);
  if ((p.command === undefined) === (p.url === undefined)) {
    invalid(`plugins[${i}] needs either "command" (a process) or "url" (a running plugin)`);
  }
  if (p.url !== undefined && !/^https?:\/\//.test(p.url)) {
    invalid(`plugins[${i}].url must be an http(s) URL, got ${JSON.stringify(p.url)}`);
  }
  const name = p.name ?? (p.url !== undefined ? `remote-${i}` : undefined);
  if (name === undefined) invalid(`plugins[${i}] needs a "name"`);
  if (p.portHandoff !== undefined && p.portHandoff !== "announce" && p.portHandoff !== "env") {
    invalid(
      `plugins[${i}].portHandoff must be "announce" (cpg SDK plugins) or "env" (plugins that read PORT, e.g. Go), got ${JSON.stringify(p.portHandoff)}`,
    );
  }
  if (p.portHandoff !== undefined && p.command === undefined) {
    invalid(`plugins[${i}].portHandoff applies to process plugins ("command") only`);
  }
  return {
    name,
    strategy:
      p.command !== undefined
        ? {
            kind: "process",
            command: p.command,
            ...(p.args ? { args: p.args } : {}),
            ...(p.env ? { env: p.env } : {}),
            ...(p.cwd ? { cwd: p.cwd } : {}),
            ...(p.portHandoff ? { portHandoff: p.portHandoff } : {}),
          }
        : {
            kind: "remote",
            url: p.url!,
            ...(p.launchSecret ? { launchSecret: p.launchSecret } : {}),
          },
    ...(p.provides ? { provides: p.provides } : {}),
    ...(p.requires ? { requires: p.requires } : {}),
  };
}

/**
 * A host configuration ready to use: options for `createHost` and where to
 * listen.
 */
export interface HostConfig {
  readonly options: Omit<HostOptions, "logger">;
  readonly host: string;
  readonly port: number;
  readonly logLevel: LogLevel;
  readonly plugins: readonly ManagedPluginSpec[];
}

const logLevels = new Set(["debug", "info", "warn", "error"]);

function invalid(message: string): never {
  throw new HostError("invalid_config", message);
}

/**
 * Reads and checks a configuration file; relative TLS paths resolve against
 * the file's directory. Throws `HostError` (`invalid_config`) naming the field.
 */
export function loadHostConfigFile(path: string): HostConfigFile {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    return invalid(`cannot read config file ${path}: ${(error as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    return invalid(`config file ${path} is not valid JSON: ${(error as Error).message}`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    return invalid(`config file ${path} must contain a JSON object`);
  }
  const file = parsed as HostConfigFile;
  const base = dirname(resolve(path));
  for (const plugin of file.plugins ?? []) {
    if (plugin && typeof plugin.cwd === "string") plugin.cwd = resolve(base, plugin.cwd);
  }
  if (file.tls) {
    const at = (p?: string) => (p === undefined ? undefined : resolve(base, p));
    file.tls = {
      ...file.tls,
      certFile: at(file.tls.certFile),
      keyFile: at(file.tls.keyFile),
      caFile: at(file.tls.caFile),
    };
  }
  return file;
}

const read = (file: string | undefined, field: string): string | undefined => {
  if (file === undefined) return undefined;
  try {
    return readFileSync(file, "utf8");
  } catch (error) {
    return invalid(`${field}: cannot read ${file}: ${(error as Error).message}`);
  }
};

/**
 * Turns a configuration (file merged with flags) into a {@link HostConfig}.
 */
export function resolveHostConfig(file: HostConfigFile): HostConfig {
  const port = file.port ?? 8080;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    invalid(`port must be an integer from 0 to 65535, got ${JSON.stringify(file.port)}`);
  }
  const profile = file.profile ?? "development";
  if (!isSecurityProfile(profile)) {
    invalid(`profile must be "development" or "production", got ${JSON.stringify(file.profile)}`);
  }
  const logLevel = file.logLevel ?? "info";
  if (!logLevels.has(logLevel)) {
    invalid(`logLevel must be debug, info, warn or error, got ${JSON.stringify(file.logLevel)}`);
  }
  let tls: HostOptions["tls"];
  if (file.tls && (file.tls.certFile || file.tls.keyFile)) {
    if (!file.tls.certFile || !file.tls.keyFile) invalid("tls needs both certFile and keyFile");
    const clientAuth = file.tls.clientAuth ?? "none";
    if (clientAuth !== "none" && clientAuth !== "request" && clientAuth !== "require") {
      invalid(`tls.clientAuth must be none, request or require, got ${JSON.stringify(clientAuth)}`);
    }
    if (clientAuth !== "none" && !file.tls.caFile) {
      invalid(`tls.clientAuth "${clientAuth}" needs tls.caFile to verify client certificates`);
    }
    const ca = read(file.tls.caFile, "tls.caFile");
    tls = {
      cert: read(file.tls.certFile, "tls.certFile")!,
      key: read(file.tls.keyFile, "tls.keyFile")!,
      ...(ca !== undefined ? { ca } : {}),
      clientAuth,
    };
  }
  const options: Omit<HostOptions, "logger"> = {
    profile,
    ...(file.allowInsecure !== undefined ? { allowInsecure: file.allowInsecure } : {}),
    ...(tls ? { tls } : {}),
    ...(file.runtimeTokenTtl !== undefined
      ? { runtimeTokenTtlMs: parseDuration(file.runtimeTokenTtl, "runtimeTokenTtl") }
      : {}),
    ...(file.rateLimits !== undefined ? { rateLimits: file.rateLimits } : {}),
    ...(file.readMaxBytes !== undefined ? { readMaxBytes: file.readMaxBytes } : {}),
    ...(file.publicUrl !== undefined ? { publicUrl: file.publicUrl } : {}),
    ...(file.store !== undefined ? { store: file.store } : {}),
    ...(file.policies !== undefined ? { policies: file.policies } : {}),
    ...(file.admin !== undefined ? { admin: file.admin } : {}),
    ...(file.allowedBinaryDirs !== undefined
      ? { platform: { allowedBinaryDirs: file.allowedBinaryDirs } }
      : {}),
    ...(file.upstreamAllowList !== undefined ? { upstreamAllowList: file.upstreamAllowList } : {}),
    ...(file.exposeBaseUrl !== undefined ? { exposeBaseUrl: file.exposeBaseUrl } : {}),
    ...(file.selectionStrategy !== undefined ? { selectionStrategy: file.selectionStrategy } : {}),
    ...(file.router !== undefined ? { router: file.router } : {}),
    ...(file.grantTtl !== undefined
      ? { grantTtlMs: parseDuration(file.grantTtl, "grantTtl") }
      : {}),
    ...(file.shutdownTimeout !== undefined
      ? { shutdownTimeoutMs: parseDuration(file.shutdownTimeout, "shutdownTimeout") }
      : {}),
  };
  const plugins = (file.plugins ?? []).map((p, i) => pluginSpec(p, i));
  return { options, host: file.host ?? "127.0.0.1", port, logLevel: logLevel as LogLevel, plugins };
}
