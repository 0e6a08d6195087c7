// Executes the examples of README.md, so they cannot drift from the code:
//
// - every ```ts block is written to test-artifacts/readme/ (inside the
//   package, so its imports resolve) and imported, with "@cpg/host" pointing
//   at src/index.ts, the reader's generated "./gen/kv/v1/kv_pb.js" pointing at
//   @cpg/examples-proto (the same KVService shape), port 8080 replaced by 0,
//   `const certs = "./certs"` pointing at certificates generated here, and
//   redis://127.0.0.1:6379 at a throw-away redis-server;
// - the ```text block must be the `cpg-host --help` output;
// - the ```json block must be a configuration file that cpg-host accepts.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { createTestPki, startRedis, type TestPki, type TestRedis } from "@cpg/test-utils";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { CPG_HOST_USAGE, parseCliArgs } from "./cli/parse-cli-args.js";
import { loadHostConfigFile, resolveHostConfig } from "./config/host-config.js";

const here = dirname(fileURLToPath(import.meta.url));
const packageDir = join(here, "..");
const outDir = join(packageDir, "test-artifacts", "readme");
const certsDir = join(outDir, "certs");
const readme = readFileSync(join(packageDir, "README.md"), "utf8");

const fenced = (lang: string) =>
  [...readme.matchAll(new RegExp(`^\`\`\`${lang}\\n([\\s\\S]*?)^\`\`\`$`, "gm"))].map((m) => m[1]!);
const tsBlocks = fenced("ts");

// Names declared by top-level `const` (plain or destructured).
function topLevelNames(code: string): string[] {
  return [...code.matchAll(/^const (?:(\w+)|\{([^}]+)\})/gm)].flatMap((m) =>
    m[1] ? [m[1]] : m[2]!.split(",").map((p) => p.split(":").pop()!.trim()),
  );
}

let pki: TestPki;
// For the replicas example: a throw-away Redis stands in for redis://127.0.0.1:6379.
let redis: TestRedis | undefined;
afterAll(async () => {
  await redis?.stop();
});
beforeAll(async () => {
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(certsDir, { recursive: true });
  pki = await createTestPki();
  const files: Record<string, string> = {
    "ca.pem": pki.ca.cert,
    "host.pem": pki.server.cert,
    "host-key.pem": pki.server.key,
    "billing.pem": pki.clients.spiffe.cert,
    "billing-key.pem": pki.clients.spiffe.key,
  };
  for (const [name, pem] of Object.entries(files)) writeFileSync(join(certsDir, name), pem);
});

afterEach(() => {
  vi.unstubAllEnvs();
  vi.restoreAllMocks();
});

describe("README.md", () => {
  it("has examples", () => {
    expect(tsBlocks.length).toBeGreaterThanOrEqual(6);
  });

  it("shows the current `cpg-host --help`", () => {
    expect(fenced("text")).toEqual([`${CPG_HOST_USAGE}\n`]);
  });

  it("shows a configuration file that cpg-host accepts, and flags override it", () => {
    const [json] = fenced("json");
    const dir = join(outDir, "config");
    mkdirSync(dir, { recursive: true });
    for (const name of ["host.pem", "host-key.pem", "ca.pem"]) {
      writeFileSync(join(dir, name), readFileSync(join(certsDir, name)));
    }
    const file = join(dir, "host.json");
    writeFileSync(file, json!);
    const config = resolveHostConfig(loadHostConfigFile(file));
    expect(config).toMatchObject({
      host: "0.0.0.0",
      port: 8443,
      logLevel: "info",
      plugins: [
        {
          name: "kv-store",
          strategy: { kind: "remote", url: "http://127.0.0.1:8081", launchSecret: "launch-s3cret" },
        },
      ],
    });
    expect(config.options).toMatchObject({
      profile: "production",
      runtimeTokenTtlMs: 12 * 60 * 60 * 1000,
      shutdownTimeoutMs: 20_000,
      tls: { cert: pki.server.cert, key: pki.server.key, ca: pki.ca.cert, clientAuth: "require" },
      rateLimits: { handshake: { rate: 5, burst: 20 }, api: { rate: 100, burst: 200 } },
      policies: { registration: { "kv-store": ["kv"] }, discovery: { "kv-app": ["kv"] } },
    });
    const command = parseCliArgs(["--config", file, "--port", "9000"]);
    expect(command.kind === "run" && resolveHostConfig(command.config).port).toBe(9000);
  });

  it.each(tsBlocks.map((code, i) => [i + 1, code] as const))("example %i runs", async (n, code) => {
    vi.stubEnv("HOST_URL", "");
    vi.stubEnv("CPG_LAUNCH_SECRET", "");
    // The hosts' and plugins' default loggers write JSON lines to stderr.
    vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    const hostEntry = relative(outDir, join(here, "index.js")).replaceAll("\\", "/");
    if (code.includes("redis://127.0.0.1:6379")) redis ??= await startRedis();
    const source = code
      .replaceAll("redis://127.0.0.1:6379", redis?.url ?? "redis://127.0.0.1:6379")
      .replaceAll('from "@cpg/host"', `from "${hostEntry}"`)
      .replaceAll('from "./gen/kv/v1/kv_pb.js"', 'from "@cpg/examples-proto"')
      .replaceAll("port: 8080", "port: 0")
      .replaceAll('const certs = "./certs";', `const certs = ${JSON.stringify(certsDir)};`);
    expect(source).not.toContain("@cpg/host");
    const file = join(outDir, `example-${n}.ts`);
    writeFileSync(file, `${source}\nexport { ${topLevelNames(code).join(", ")} };\n`);
    const module = (await import(/* @vite-ignore */ file)) as Record<string, unknown>;
    // Examples close what they open; closing again is harmless.
    for (const value of Object.values(module)) {
      const closable = value as { close?: unknown };
      if (typeof closable?.close === "function") await (closable.close as () => Promise<void>)();
    }
  });
});
