// Follows docs/getting-started.md step by step, so the guide cannot drift
// from the code. The guide's files (proto, buf.gen.yaml, TypeScript) are
// written to test-artifacts/getting-started/ under their names (the first
// line of each block names the file), `buf generate` runs on them as the
// guide says, and the TypeScript files are imported in order. The guide's
// cpg-host commands run against the built CLI. Substitutions: ports 8080 and
// 8443 become 0 (tests only use free ports), http://127.0.0.1:8080 becomes the
// URL the host actually got, certs/ points at certificates generated here, and
// "@cpg/host" points at this package's sources.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { createPlugin, isPluginError, type Plugin, silentLogger } from "@cpg/plugin-sdk";
import { createTestPki, type TestPki, waitFor } from "@cpg/test-utils";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { Host } from "../host.js";
import { startNode } from "../test-support/child-process.js";

const here = dirname(fileURLToPath(import.meta.url));
const packageDir = join(here, "..", "..");
const rootDir = join(packageDir, "..", "..");
const workDir = join(packageDir, "test-artifacts", "getting-started");
const certsDir = join(workDir, "certs");
const cli = join(packageDir, "dist", "cli", "cpg-host.js");
const guide = readFileSync(join(rootDir, "docs", "getting-started.md"), "utf8");

interface Block {
  readonly lang: string;
  readonly code: string;
  /** File name from the block's first line (`// name` or `# name`), if any. */
  readonly file: string | undefined;
}

const blocks: Block[] = [...guide.matchAll(/^```(\w*)\n([\s\S]*?)^```$/gm)].map((m) => {
  const code = m[2]!;
  const first = /^(?:\/\/|#) ([\w./-]+\.\w+)\n/.exec(code);
  return { lang: m[1]!, code, file: first?.[1] };
});
const fileBlock = (name: string) => {
  const block = blocks.find((b) => b.file === name);
  if (!block) throw new Error(`docs/getting-started.md has no block for ${name}`);
  return block.code;
};
// The arguments of a `npx cpg-host ...` command of the guide.
const cpgHostCommands = blocks
  .filter((b) => b.lang === "sh" && b.code.startsWith("npx cpg-host "))
  .map((b) => b.code.replaceAll("\\\n", " ").trim().split(/\s+/).slice(2));

let hostUrl = "";
let pki: TestPki;
const printed: string[] = [];
const opened: Array<{ close(): Promise<void> }> = [];
type NodeProcess = ReturnType<typeof startNode>;
const processes: NodeProcess[] = [];
const signalListeners = new Map(
  (["SIGINT", "SIGTERM"] as const).map((s) => [s, process.listeners(s)]),
);

// Writes a TypeScript block of the guide (with the substitutions) and imports
// it; returns its top-level constants.
async function runFile(name: string, as = name): Promise<Record<string, unknown>> {
  const code = fileBlock(name);
  const names = [...code.matchAll(/^const (?:(\w+)|\{([^}]+)\})/gm)].flatMap((m) =>
    m[1] ? [m[1]] : m[2]!.split(",").map((p) => p.split(":").pop()!.trim()),
  );
  const hostEntry = relative(workDir, join(packageDir, "src", "index.js")).replaceAll("\\", "/");
  const source = code
    .replaceAll('from "@cpg/host"', `from "${hostEntry}"`)
    .replaceAll(/port: (8080|8443)/g, "port: 0")
    .replaceAll("http://127.0.0.1:8080", hostUrl)
    .replaceAll('const certs = "./certs";', `const certs = ${JSON.stringify(certsDir)};`);
  const file = join(workDir, as);
  writeFileSync(file, `${source}\nexport { ${names.join(", ")} };\n`);
  const module = (await import(/* @vite-ignore */ file)) as Record<string, unknown>;
  for (const value of Object.values(module)) {
    if (typeof (value as { close?: unknown })?.close === "function") {
      opened.push(value as { close(): Promise<void> });
    }
  }
  return module;
}

const printedLine = (match: RegExp) =>
  waitFor(() => printed.find((line) => match.test(line)), {
    description: `a printed line matching ${match}`,
  });

beforeAll(async () => {
  rmSync(workDir, { recursive: true, force: true });
  mkdirSync(join(workDir, "proto", "kv", "v1"), { recursive: true });
  mkdirSync(certsDir, { recursive: true });
  for (const name of ["proto/kv/v1/kv.proto", "buf.gen.yaml"]) {
    writeFileSync(join(workDir, name), fileBlock(name));
  }
  pki = await createTestPki();
  const kvApp = await pki.ca.issue({
    commonName: "kv-app",
    uris: ["spiffe://example.org/plugin/kv-app"],
  });
  const files: Record<string, string> = {
    "ca.pem": pki.ca.cert,
    "host.pem": pki.server.cert,
    "host-key.pem": pki.server.key,
    "kv-app.pem": kvApp.cert,
    "kv-app-key.pem": kvApp.key,
  };
  for (const [name, pem] of Object.entries(files)) writeFileSync(join(certsDir, name), pem);
  vi.spyOn(console, "log").mockImplementation((...args: unknown[]) => {
    printed.push(args.join(" "));
  });
});

afterAll(async () => {
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
  for (const p of processes) p.kill();
  // Plugins first, then hosts (their close waits for calls in flight).
  const isPlugin = (o: object) => "shutdownRequested" in o;
  for (const o of opened.filter(isPlugin)) await o.close();
  for (const o of opened.filter((o) => !isPlugin(o))) await o.close();
  for (const [signal, before] of signalListeners) {
    for (const listener of process.listeners(signal)) {
      if (!before.includes(listener)) process.off(signal, listener as NodeJS.SignalsListener);
    }
  }
});

describe("docs/getting-started.md", () => {
  it("step 2: host.ts starts a host", async () => {
    const { host, url } = await runFile("host.ts");
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect((host as Host).url).toBe(url);
    expect(printed).toContain(`listening on ${url}`);
    hostUrl = url as string;
  });

  it("step 3: buf generate turns the guide's proto into TypeScript", () => {
    const buf = spawnSync(join(rootDir, "node_modules", ".bin", "buf"), ["generate"], {
      cwd: workDir,
      env: {
        ...process.env,
        PATH: `${join(rootDir, "node_modules", ".bin")}:${process.env.PATH ?? ""}`,
      },
      encoding: "utf8",
    });
    expect(buf.stderr).toBe("");
    expect(buf.status).toBe(0);
    expect(existsSync(join(workDir, "gen", "kv", "v1", "kv_pb.ts"))).toBe(true);
  });

  it("steps 4 and 5: the kv-store plugin joins with HOST_URL and registers kv", async () => {
    vi.stubEnv("HOST_URL", hostUrl);
    vi.stubEnv("PORT", "0");
    // runPlugin logs JSON lines to stderr by default; keep them out of the report.
    const stderr = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    try {
      await runFile("kv-store.ts");
    } finally {
      stderr.mockRestore();
    }
    await printedLine(/^kv-store listening on http:\/\/127\.0\.0\.1:\d+ as kv-store-[0-9a-f]+$/);
    await printedLine(/^kv is now provided by kv-store-[0-9a-f]+$/);
  });

  it("step 6: kv-app calls kv-store through the host", async () => {
    const stderr = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    try {
      await runFile("kv-app.ts");
    } finally {
      stderr.mockRestore();
    }
    expect(printed.at(-1)).toBe("hello");
  });

  it("step 7: secure.ts joins a production host over mTLS", async () => {
    const stderr = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    let module: Record<string, unknown>;
    try {
      module = await runFile("secure.ts");
    } finally {
      stderr.mockRestore();
    }
    const secureUrl = module.secureUrl as string;
    const runtimeId = module.runtimeId as string;
    expect(secureUrl).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(printed).toContain(`joined ${secureUrl} as ${runtimeId}`);
    expect((module.secureHost as Host).identities.get(runtimeId)?.peerIdentity).toBe(
      "spiffe://example.org/plugin/kv-app",
    );
  });

  describe("with the cpg-host command", () => {
    beforeAll(() => {
      if (!existsSync(cli)) throw new Error("build first: pnpm --filter @cpg/host run build");
    });

    const start = (args: string[]) => {
      const p = startNode(cli, args);
      processes.push(p);
      return p;
    };
    const listening = async (p: NodeProcess) =>
      (await p.waitForLine((l) => l.startsWith("listening on "))).slice("listening on ".length);
    const logged = (p: NodeProcess, match: (entry: Record<string, unknown>) => boolean) =>
      waitFor(
        () =>
          p.stderr
            .filter((l) => l.startsWith("{"))
            .map((l) => JSON.parse(l) as Record<string, unknown>)
            .find(match),
        { timeoutMs: 10_000, description: "a matching host log line" },
      );

    it("step 2's `cpg-host --port 8080` serves the plugin of step 4", async () => {
      const args = cpgHostCommands.find((a) => !a.includes("--tls-cert"))!;
      expect(args).toEqual(["--port", "8080"]);
      const host = start(args.map((a) => (a === "8080" ? "0" : a)));
      const url = await listening(host);
      vi.stubEnv("HOST_URL", url);
      vi.stubEnv("PORT", "0");
      const stderr = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
      try {
        await runFile("kv-store.ts", "kv-store-cli.ts");
      } finally {
        stderr.mockRestore();
      }
      // The log lines the guide shows.
      const handshake = await logged(
        host,
        (e) => e.msg === "handshake" && e.self_id === "kv-store",
      );
      expect(handshake).toMatchObject({ level: "info", component: "cpg-host" });
      expect(handshake.runtime_id).toMatch(/^kv-store-[0-9a-f]+$/);
      await logged(
        host,
        (e) =>
          e.msg === "service registered" &&
          e.service_type === "kv" &&
          e.runtime_id === handshake.runtime_id,
      );
      const plugin = opened.at(-1) as Plugin;
      await plugin.close();
      host.child.kill("SIGTERM");
      expect(await host.exited).toBe(0);
    });

    it("step 7's mTLS command admits plugins with a certificate from the CA, and no others", async () => {
      const args = cpgHostCommands.find((a) => a.includes("--tls-cert"))!;
      expect(args).toEqual([
        "--port",
        "8443",
        "--profile",
        "production",
        "--tls-cert",
        "certs/host.pem",
        "--tls-key",
        "certs/host-key.pem",
        "--tls-ca",
        "certs/ca.pem",
        "--client-auth",
        "require",
      ]);
      const host = start(
        args.map((a) =>
          a === "8443" ? "0" : a.startsWith("certs/") ? join(certsDir, a.slice(6)) : a,
        ),
      );
      const url = await listening(host);
      expect(url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      const pem = (name: string) => readFileSync(join(certsDir, name), "utf8");
      const withCertificate = createPlugin({
        selfId: "kv-app",
        version: "1.0.0",
        logger: silentLogger,
        hostTls: { ca: pem("ca.pem"), cert: pem("kv-app.pem"), key: pem("kv-app-key.pem") },
      });
      const withoutCertificate = createPlugin({
        selfId: "kv-app",
        version: "1.0.0",
        logger: silentLogger,
        hostTls: { ca: pem("ca.pem") },
      });
      opened.push(withCertificate, withoutCertificate);
      expect((await withCertificate.join(url)).runtimeId).toMatch(/^kv-app-[0-9a-f]+$/);
      const refused = await withoutCertificate.join(url).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isPluginError(refused) && refused.code).toBe("join_failed");
      host.child.kill("SIGTERM");
      expect(await host.exited).toBe(0);
    });
  });
});
