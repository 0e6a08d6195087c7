import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import type * as http from "node:http";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { cachePluginOptions } from "@cpg/demo-plugin-cache";
import { shortenerPluginOptions } from "@cpg/demo-plugin-shortener-api";
import { ShortenerService } from "@cpg/examples-proto";
import {
  createHost,
  createJsonLogger,
  type Host,
  type Logger,
  type ManagedPluginSpec,
} from "@cpg/host";
import { createPlugin } from "@cpg/plugin-sdk";
import { createDashboardHandler } from "./dashboard-handler.js";
import { pythonGrpcAvailable, startPythonPlugin } from "./python-plugin.js";

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const appDir = (pkg: string) => dirname(require.resolve(`${pkg}/package.json`));
// The same from src/ (tests) and dist/ (the built demo).
const packageRoot = join(here, "..");
const repoRoot = join(packageRoot, "..", "..");

/**
 * Options of {@link startDemo}.
 */
export interface DemoOptions {
  /** Port of the host. Default: 8080 (0 picks a free port). */
  readonly port?: number;
  /** Key of the operator role on the admin API. Default: a random key. */
  readonly operatorKey?: string;
  /** Logger. Default: JSON lines on stderr from level `warn`. */
  readonly logger?: Logger;
  /** Start the Python plugin when Python's grpcio is installed. Default: true. */
  readonly python?: boolean;
}

/**
 * A running demo.
 */
export interface Demo {
  readonly host: Host;
  readonly url: string;
  readonly dashboardUrl: string;
  readonly operatorKey: string;
  /** What the demo started, and what it could not. */
  readonly notes: string[];
  /** A curl command that calls the shortener through the router. */
  readonly curl: string;
  close(): Promise<void>;
}

/**
 * The demo platform: key-value store and link storage as managed processes,
 * the shortener API and the cache in memory (the Python plugin joins by
 * itself, see startDemo).
 */
export function demoPlugins(publicUrl: string): ManagedPluginSpec[] {
  const node = process.execPath;
  const shortener = shortenerPluginOptions({ publicUrl });
  const cache = cachePluginOptions();
  return [
    {
      name: "kv",
      strategy: {
        kind: "process",
        command: node,
        args: [join(appDir("@cpg/demo-plugin-kv"), "dist", "main.js")],
      },
      provides: [{ type: "kv", version: "1.0.0" }],
    },
    {
      name: "links",
      strategy: {
        kind: "process",
        command: node,
        args: [join(appDir("@cpg/demo-plugin-shortener-storage"), "dist", "main.js")],
      },
      provides: [{ type: "links", version: "1.0.0" }],
    },
    {
      name: "shortener",
      strategy: {
        kind: "in-memory",
        plugin: shortener,
        attach: (plugin) => {
          shortener.attach(plugin);
          return undefined;
        },
      },
      provides: [{ type: "shortener", version: "1.0.0" }],
      requires: [{ type: "links" }],
    },
    {
      name: "cache",
      strategy: { kind: "in-memory", plugin: cache, attach: (plugin) => cache.attach(plugin) },
      provides: [{ type: "cache", version: "1.0.0" }],
      requires: [{ type: "kv" }],
    },
  ];
}

/**
 * Starts the demo host, its plugins and the dashboard.
 */
export async function startDemo(options: DemoOptions = {}): Promise<Demo> {
  const logger =
    options.logger ?? createJsonLogger({ level: "warn", base: { component: "cpg-demo" } });
  const viewerKey = randomBytes(18).toString("base64url");
  const operatorKey = options.operatorKey ?? randomBytes(18).toString("base64url");
  const dashboardDir = join(packageRoot, "dist", "dashboard");
  const html = readFileSync(join(packageRoot, "src", "dashboard", "index.html"), "utf8");
  const dashboard = createDashboardHandler(dashboardDir, html, viewerKey);
  let web: ReturnType<typeof createPlugin> | undefined;

  const host = createHost({
    logger,
    admin: {
      apiKeys: {
        [viewerKey]: { identity: "dashboard", role: "viewer" },
        [operatorKey]: { identity: "operator", role: "operator" },
      },
    },
    fallback(req, res) {
      void (async () => {
        if (await dashboard(req, res)) return;
        if (await shortenEndpoint(req, res)) return;
        if (await redirectEndpoint(req, res)) return;
        (res as http.ServerResponse).writeHead(404, { "content-type": "text/plain" });
        res.end("not found\n");
      })();
    },
  });

  // POST /demo/shorten {"url": ...} -> the demo web plugin -> shortener -> links -> logger.
  const shortenEndpoint = async (
    req: Parameters<typeof dashboard>[0],
    res: Parameters<typeof dashboard>[1],
  ) => {
    if ((req.url ?? "") !== "/demo/shorten" || req.method !== "POST" || web === undefined)
      return false;
    let body = "";
    for await (const chunk of req) body += chunk;
    const reply = (status: number, value: unknown) => {
      (res as http.ServerResponse).writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(value));
    };
    try {
      const { url } = JSON.parse(body) as { url?: string };
      const out = await web.client(ShortenerService).shorten({ url: url ?? "" });
      reply(200, { code: out.code, shortUrl: out.shortUrl });
    } catch (error) {
      reply(400, { error: error instanceof Error ? error.message : String(error) });
    }
    return true;
  };

  // GET /s/{code} -> 302 to the original URL.
  const redirectEndpoint = async (
    req: Parameters<typeof dashboard>[0],
    res: Parameters<typeof dashboard>[1],
  ) => {
    const match = /^\/s\/([A-Za-z0-9]{1,32})$/.exec(req.url ?? "");
    if (match === null || web === undefined) return false;
    try {
      const { url: target } = await web.client(ShortenerService).resolve({ code: match[1]! });
      (res as http.ServerResponse).writeHead(302, { location: target });
      res.end();
    } catch {
      (res as http.ServerResponse).writeHead(404, { "content-type": "text/plain" });
      res.end("unknown short code\n");
    }
    return true;
  };

  const { url } = await host.listen({ port: options.port ?? 8080 });
  const notes: string[] = [];
  await host.platform.start(demoPlugins(url));
  notes.push("started kv and links as managed plugin processes, shortener and cache in memory");

  let python: ReturnType<typeof startPythonPlugin> | undefined;
  if ((options.python ?? true) && pythonGrpcAvailable()) {
    python = startPythonPlugin(
      join(appDir("@cpg/demo-plugin-python-echo"), "echo_plugin.py"),
      join(repoRoot, "proto"),
      url,
      logger,
    );
    notes.push("started the Python (grpcio) plugin, which registers itself as py-echo");
  } else {
    notes.push(
      "the Python plugin needs Debian's python3-grpcio and python3-grpc-tools (apt-get install python3-grpcio python3-grpc-tools); carrying on without it",
    );
  }

  // A network plugin standing for the demo's web front end.
  web = createPlugin({
    selfId: "demo-web",
    version: "1.0.0",
    requires: [{ type: "shortener" }, { type: "cache", requiredForStartup: false }],
    logger,
  });
  const creds = await web.join(url);
  const shortener = await web.discover("shortener");
  const curl = [
    "curl -s",
    `-H 'X-Plugin-Runtime-ID: ${creds.runtimeId}'`,
    `-H 'Authorization: Bearer ${creds.token}'`,
    "-H 'Content-Type: application/json'",
    `-d '{"url":"https://example.com/a/very/long/path"}'`,
    `${url}${shortener.endpoint?.endpointUrl}/cpg.examples.v1.ShortenerService/Shorten`,
  ].join(" ");

  return {
    host,
    url,
    dashboardUrl: `${url}/dashboard/`,
    operatorKey,
    notes,
    curl,
    async close() {
      await web?.close(1000);
      python?.stdin?.end();
      python?.kill("SIGTERM");
      await host.close();
    },
  };
}
