import { parseArgs } from "node:util";
import { type HostConfigFile, loadHostConfigFile } from "../config/host-config.js";
import { HostError } from "../host-error.js";

/**
 * Usage text of `cpg-host`.
 */
export const CPG_HOST_USAGE = `Usage: cpg-host [options]

Starts a cpg plugin host. Flags override the config file.

Options:
  --port N                 port to listen on; 0 picks a free port (default: 8080)
  --host ADDR              address to bind (default: 127.0.0.1)
  --profile NAME           development | production (default: development)
  --config FILE            JSON config file (see docs/getting-started.md)
  --tls-cert FILE          PEM certificate chain; enables TLS with --tls-key
  --tls-key FILE           PEM private key
  --tls-ca FILE            PEM CA bundle for client certificates
  --client-auth MODE       none | request | require (default: none)
  --allow-insecure         allow plaintext under the production profile
  --token-ttl DURATION     runtime token lifetime, e.g. 24h, 30m (default: 24h)
  --public-url URL         base URL plugins use to reach this host
  --store URL              memory, or redis://HOST:PORT to share state with other
                           replicas (see docs/scaling.md) (default: memory)
  --log-level LEVEL        debug | info | warn | error (default: info)
  --plugin URL             manage the plugin running at URL (repeatable)
  -h, --help               print this help
  -v, --version            print the version

Environment: CPG_ADMIN_API_KEY enables the admin API for that key (operator role).
CPG_STORE_URL is the default of --store (keeps a Redis password out of the arguments).

Once listening, prints "listening on <url>" to stdout. Logs go to stderr as JSON lines.
Stops gracefully on SIGINT or SIGTERM.`;

/**
 * What the command line asks for.
 */
export type CliCommand =
  | { kind: "help" }
  | { kind: "version" }
  | { kind: "run"; config: HostConfigFile };

/**
 * Parses `cpg-host` arguments (without `node` and the script) into a command;
 * throws `HostError` (`invalid_config`) with a message for the user. `env`
 * supplies `CPG_STORE_URL` (the default of `--store`; default: `process.env`).
 */
export function parseCliArgs(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>> = process.env,
): CliCommand {
  let values: Record<string, string | boolean | string[] | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        port: { type: "string" },
        host: { type: "string" },
        profile: { type: "string" },
        config: { type: "string" },
        "tls-cert": { type: "string" },
        "tls-key": { type: "string" },
        "tls-ca": { type: "string" },
        "client-auth": { type: "string" },
        "allow-insecure": { type: "boolean" },
        "token-ttl": { type: "string" },
        "public-url": { type: "string" },
        store: { type: "string" },
        "log-level": { type: "string" },
        plugin: { type: "string", multiple: true },
        help: { type: "boolean", short: "h" },
        version: { type: "boolean", short: "v" },
      },
    }));
  } catch (error) {
    throw new HostError("invalid_config", `${(error as Error).message}\n\n${CPG_HOST_USAGE}`);
  }
  if (values.help) return { kind: "help" };
  if (values.version) return { kind: "version" };
  const file: HostConfigFile =
    typeof values.config === "string" ? loadHostConfigFile(values.config) : {};
  const str = (name: string) =>
    typeof values[name] === "string" ? (values[name] as string) : undefined;
  if (str("port") !== undefined) {
    const port = Number(str("port"));
    if (!/^\d+$/.test(str("port")!) || port > 65535) {
      throw new HostError(
        "invalid_config",
        `--port must be an integer from 0 to 65535, got ${str("port")}`,
      );
    }
    file.port = port;
  }
  if (str("host") !== undefined) file.host = str("host");
  if (str("profile") !== undefined) file.profile = str("profile");
  if (str("token-ttl") !== undefined) file.runtimeTokenTtl = str("token-ttl");
  if (str("public-url") !== undefined) file.publicUrl = str("public-url");
  if (str("store") !== undefined) file.store = str("store");
  else if (env.CPG_STORE_URL) file.store = env.CPG_STORE_URL;
  if (str("log-level") !== undefined) file.logLevel = str("log-level");
  if (values["allow-insecure"]) file.allowInsecure = true;
  if (Array.isArray(values.plugin)) {
    file.plugins = [...(file.plugins ?? []), ...values.plugin.map((url) => ({ url }))];
  }
  if (str("tls-cert") || str("tls-key") || str("tls-ca") || str("client-auth")) {
    file.tls = {
      ...file.tls,
      ...(str("tls-cert") ? { certFile: str("tls-cert") } : {}),
      ...(str("tls-key") ? { keyFile: str("tls-key") } : {}),
      ...(str("tls-ca") ? { caFile: str("tls-ca") } : {}),
      ...(str("client-auth") ? { clientAuth: str("client-auth") } : {}),
    };
  }
  return { kind: "run", config: file };
}
