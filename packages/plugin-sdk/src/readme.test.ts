// Executes every ```ts block of README.md against this package's sources, so
// the documented examples cannot drift from the code. Each block is written to
// test-artifacts/readme/ (inside the package, so its imports resolve) and
// imported, with these substitutions:
//
// - "@cpg/plugin-sdk" points at src/index.ts;
// - "./gen/kv/v1/kv_pb.js" (the reader's generated code) points at the test
//   descriptor in src/test-support/kv-service.ts, which has the same shape;
// - the host URL http://127.0.0.1:8080 is a fake connect-plugin-go-like host
//   started here (the real host depends on this package), also set as
//   HOST_URL, with PORT=0;
// - `const certs = "./certs"` points at certificates generated here.
//
// Top-level constants of a block are exported so that plugins it leaves open
// are closed afterwards.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { createTestPki } from "@cpg/test-utils";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { type FakeHost, startFakeHost } from "./test-support/fake-host.js";

const here = dirname(fileURLToPath(import.meta.url));
const packageDir = join(here, "..");
const outDir = join(packageDir, "test-artifacts", "readme");
const certsDir = join(outDir, "certs");
const readme = readFileSync(join(packageDir, "README.md"), "utf8");

const blocks = [...readme.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((match) => match[1]!);

const importPath = (target: string) => {
  const path = relative(outDir, join(here, target)).replaceAll("\\", "/");
  return path.startsWith(".") ? path : `./${path}`;
};

// Names declared by top-level `const`/`let` (plain or destructured).
function topLevelNames(code: string): string[] {
  const names: string[] = [];
  for (const m of code.matchAll(/^(?:const|let) (\w+)/gm)) names.push(m[1]!);
  for (const m of code.matchAll(/^(?:const|let) \{([^}]+)\}/gm)) {
    for (const part of m[1]!.split(",")) {
      const name = part.split(":").pop()!.trim();
      if (name) names.push(name);
    }
  }
  return names;
}

let host: FakeHost;
const signals = ["SIGTERM", "SIGINT"] as const;
let signalListeners: Map<string, Function[]>;

beforeAll(async () => {
  host = await startFakeHost();
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(certsDir, { recursive: true });
  const pki = await createTestPki();
  const client = await pki.ca.issue({ commonName: "kv-store" });
  const files: Record<string, string> = {
    "ca.pem": pki.ca.cert,
    "kv-store-server.pem": pki.server.cert,
    "kv-store-server-key.pem": pki.server.key,
    "kv-store-client.pem": client.cert,
    "kv-store-client-key.pem": client.key,
    "host-client.pem": pki.clients.cnOnly.cert,
    "host-client-key.pem": pki.clients.cnOnly.key,
  };
  for (const [name, pem] of Object.entries(files)) writeFileSync(join(certsDir, name), pem);
});

afterAll(async () => {
  await host?.close();
});

afterEach(() => {
  vi.unstubAllEnvs();
  vi.restoreAllMocks();
  // runPlugin's signal handlers stay until the plugin is stopped by a signal.
  for (const signal of signals) {
    for (const listener of process.listeners(signal)) {
      if (!signalListeners.get(signal)?.includes(listener)) {
        process.off(signal, listener as NodeJS.SignalsListener);
      }
    }
  }
});

describe("README.md", () => {
  it("has examples", () => {
    expect(blocks.length).toBeGreaterThanOrEqual(7);
  });

  it.each(blocks.map((code, i) => [i + 1, code] as const))("example %i runs", async (n, code) => {
    vi.stubEnv("HOST_URL", host.url);
    vi.stubEnv("PORT", "0");
    vi.stubEnv("CPG_LAUNCH_SECRET", "");
    signalListeners = new Map(signals.map((s) => [s, process.listeners(s)]));
    // Keep the default JSON logger's lines and the examples' output out of the test report.
    vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    const printed: string[] = [];
    vi.spyOn(console, "log").mockImplementation((...args: unknown[]) => {
      printed.push(args.join(" "));
    });

    const source = code
      .replaceAll('from "@cpg/plugin-sdk"', `from "${importPath("index.js")}"`)
      .replaceAll(
        'from "./gen/kv/v1/kv_pb.js"',
        `from "${importPath("test-support/kv-service.js")}"`,
      )
      .replaceAll("http://127.0.0.1:8080", host.url)
      .replaceAll('const certs = "./certs";', `const certs = ${JSON.stringify(certsDir)};`);
    expect(source).not.toContain("@cpg/plugin-sdk");
    expect(source).not.toContain("./gen/");
    const names = topLevelNames(code);
    const file = join(outDir, `example-${n}.ts`);
    writeFileSync(file, `${source}\nexport { ${names.join(", ")} };\n`);
    const module = (await import(/* @vite-ignore */ file)) as Record<string, unknown>;
    for (const value of Object.values(module)) {
      const closable = value as { close?: unknown; shutdownRequested?: unknown };
      if (typeof closable?.close === "function" && closable.shutdownRequested !== undefined) {
        await (closable.close as (graceMs: number) => Promise<void>)(100);
      }
    }
    for (const line of printed) expect(line).not.toMatch(/undefined/);
  });
});
