import {
  access,
  copyFile,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  realpath,
  rm,
  writeFile,
} from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve, sep } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type NodeProcess, startNodeProcess } from "./node-process.js";
import { runCommand } from "./run-command.js";

// Packs every published package the way `pnpm publish` would, installs the tarballs into fresh npm
// projects outside the workspace, and runs a host and a plugin from them as real processes, once
// written as ES modules and once as CommonJS.

const appDir = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const workspaceRoot = resolve(appDir, "../..");
const fixturesDir = join(appDir, "fixtures");

const SETUP_TIMEOUT_MS = 240_000;
const PACK_TIMEOUT_MS = 60_000;
const NPM_TIMEOUT_MS = 180_000;
const LOG_MESSAGE = "hello from a packaged plugin";

interface PackedPackage {
  readonly name: string;
  readonly version: string;
  readonly dir: string;
  readonly tarball: string;
}

type Json = Record<string, unknown>;

let tmpRoot: string | undefined;
const packed = new Map<string, PackedPackage>();
let hostProject: string;
let pluginProject: string;
const processes: NodeProcess[] = [];

beforeAll(async () => {
  tmpRoot = await mkdtemp(join(await realpath(tmpdir()), "cpg-packaging-"));
  if (tmpRoot.startsWith(workspaceRoot + sep)) {
    throw new Error(
      `the temporary directory ${tmpRoot} is inside the workspace, where Node would find the ` +
        "workspace's node_modules: point TMPDIR elsewhere",
    );
  }
  const tarballDir = join(tmpRoot, "tarballs");
  await mkdir(tarballDir);
  for (const pkg of await publishedPackages()) {
    packed.set(pkg.name, { ...pkg, tarball: await pack(pkg.dir, tarballDir) });
  }
  hostProject = await createProject("host-project", "@cpg/host", ["host.mjs", "host.cjs"]);
  pluginProject = await createProject("plugin-project", "@cpg/plugin-sdk", [
    "plugin.mjs",
    "plugin.cjs",
    "protocol-exports.mjs",
    "protocol-exports.cjs",
  ]);
}, SETUP_TIMEOUT_MS);

afterAll(async () => {
  await Promise.all(processes.map((p) => p.stop(10_000)));
  if (tmpRoot) await rm(tmpRoot, { recursive: true, force: true });
}, 60_000);

describe("tarballs installed with npm", () => {
  it("list only the entry package as a dependency and take @cpg packages from the tarballs", async () => {
    for (const [project, entry] of [
      [hostProject, "@cpg/host"],
      [pluginProject, "@cpg/plugin-sdk"],
    ] as const) {
      const manifest = await readJson(join(project, "package.json"));
      expect(Object.keys(manifest.dependencies as Json)).toEqual([entry]);

      const lock = (await readJson(join(project, "package-lock.json"))).packages as Record<
        string,
        Json
      >;
      for (const [path, node] of Object.entries(lock)) {
        const name = path.replace(/^.*node_modules\//, "");
        if (!path) continue;
        if (name.startsWith("@cpg/")) {
          expect(node.resolved, `${path} in ${project}`).toMatch(/^file:/);
        } else {
          // Public dependencies (@connectrpc/*, @bufbuild/protobuf, semver) come from the registry
          // (npm leaves out `resolved` for registry packages with omit-lockfile-registry-resolved).
          expect(node.link, `${path} in ${project}`).toBeUndefined();
          expect(node.integrity, `${path} in ${project}`).toMatch(/^sha512-/);
          if (node.resolved !== undefined) expect(node.resolved).toMatch(/^https:\/\//);
        }
      }
      // npm installs the peer dependencies the packages declare.
      expect(lock["node_modules/@connectrpc/connect"], project).toBeDefined();
      expect(lock["node_modules/@bufbuild/protobuf"], project).toBeDefined();
    }
  });

  it("name the versions packed alongside instead of workspace: ranges", async () => {
    const installed = new Map<string, string>();
    for (const project of [hostProject, pluginProject]) {
      for (const dir of await readdir(join(project, "node_modules", "@cpg"))) {
        installed.set(`@cpg/${dir}`, join(project, "node_modules", "@cpg", dir, "package.json"));
      }
    }
    // A published package that neither project installs would go untested: give it a project.
    expect([...installed.keys()].sort()).toEqual([...packed.keys()].sort());
    for (const [name, manifestPath] of installed) {
      const manifest = await readJson(manifestPath);
      expect(manifest.version).toBe(packed.get(name)?.version);
      expect(JSON.stringify(manifest), name).not.toContain("workspace:");
      for (const field of ["dependencies", "peerDependencies", "optionalDependencies"]) {
        const ranges = (manifest[field] ?? {}) as Record<string, string>;
        for (const [dep, range] of Object.entries(ranges)) {
          const sibling = packed.get(dep);
          if (!sibling) continue;
          expect(
            [sibling.version, `^${sibling.version}`, `~${sibling.version}`],
            `${name} ${field} ${dep}`,
          ).toContain(range);
        }
      }
    }
  });
});

describe.each(["mjs", "cjs"] as const)("a .%s program", (ext) => {
  it("runs a plugin that joins a host and logs through the host's logger capability", async () => {
    const host = start(`host.${ext}`, hostProject, []);
    const listening = await host.waitFor(
      "the host's URL on stdout",
      ({ stdout }) => jsonLines(stdout).find((line) => typeof line.url === "string"),
      30_000,
    );
    expect(listening.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(listening.entry, host.describe()).toBe(entryOf(hostProject, "@cpg/host", ext));

    const plugin = start(`plugin.${ext}`, pluginProject, [listening.url as string]);
    const exit = await plugin.waitForExit(60_000);
    expect(exit, plugin.describe()).toEqual({ code: 0, signal: null });
    const printed = jsonLines(plugin.output().stdout).find((line) => "runtimeId" in line);
    expect(printed, plugin.describe()).toBeDefined();
    expect(printed?.runtimeId).toMatch(/^packaged-plugin-[0-9a-f]+$/);
    expect(printed?.entry).toBe(entryOf(pluginProject, "@cpg/plugin-sdk", ext));
    const runtimeId = printed?.runtimeId;

    // The host's default logger writes JSON lines to stderr.
    const logged = await host.waitFor(
      "the plugin's log line on the host's stderr",
      ({ stderr }) => jsonLines(stderr).find((line) => line.msg === LOG_MESSAGE),
      10_000,
    );
    expect(logged, host.describe()).toMatchObject({
      level: "info",
      source: "plugin",
      plugin_runtime_id: runtimeId,
      plugin_self_id: "packaged-plugin",
    });
    const handshake = jsonLines(host.output().stderr).find((line) => line.msg === "handshake");
    expect(handshake, host.describe()).toMatchObject({
      runtime_id: runtimeId,
      self_id: "packaged-plugin",
    });

    const stopped = await host.stop(15_000);
    expect(stopped, host.describe()).toEqual({ code: 0, signal: null });
    expect(jsonLines(host.output().stdout), host.describe()).toContainEqual({ closed: true });
  });

  it("loads @cpg/protocol with both require() and import()", async () => {
    const check = start(`protocol-exports.${ext}`, pluginProject, []);
    const exit = await check.waitForExit(30_000);
    expect(exit, check.describe()).toEqual({ code: 0, signal: null });
    const [result] = jsonLines(check.output().stdout);
    expect(result, check.describe()).toMatchObject({
      required: "connectplugin.v1.HandshakeService",
      imported: "connectplugin.v1.HandshakeService",
      ...(ext === "cjs"
        ? { requireEntry: entryOf(pluginProject, "@cpg/protocol", "cjs") }
        : { importEntry: entryOf(pluginProject, "@cpg/protocol", "mjs") }),
    });
  });
});

/** The packages under packages/ that are published, i.e. not private. */
async function publishedPackages(): Promise<Array<Omit<PackedPackage, "tarball">>> {
  const packagesDir = join(workspaceRoot, "packages");
  const found: Array<Omit<PackedPackage, "tarball">> = [];
  for (const entry of (await readdir(packagesDir, { withFileTypes: true })).sort((a, b) =>
    a.name.localeCompare(b.name),
  )) {
    if (!entry.isDirectory()) continue;
    const dir = join(packagesDir, entry.name);
    const manifest = await readJson(join(dir, "package.json")).catch(() => undefined);
    if (!manifest || manifest.private === true) continue;
    found.push({ name: manifest.name as string, version: manifest.version as string, dir });
  }
  // turbo builds what this package depends on before its tests run: every published package must
  // be a devDependency, or its tarball could be packed from a stale or missing dist/.
  const own = await readJson(join(appDir, "package.json"));
  const declared = Object.keys((own.devDependencies ?? {}) as Json);
  const missing = found.map((p) => p.name).filter((name) => !declared.includes(name));
  if (missing.length > 0) {
    throw new Error(
      `add ${missing.map((name) => `"${name}": "workspace:*"`).join(", ")} to the devDependencies ` +
        "of apps/packaging-test/package.json so that turbo builds them before this test",
    );
  }
  return found;
}

/** Packs a package with `pnpm pack` (which rewrites workspace: ranges) and returns the tarball. */
async function pack(dir: string, destination: string): Promise<string> {
  try {
    await access(join(dir, "dist"));
  } catch {
    throw new Error(
      `${dir}/dist is missing: build first with \`pnpm turbo run build --filter=@cpg/packaging-test...\``,
    );
  }
  const { stdout, stderr } = await runCommand("pnpm", ["pack", "--pack-destination", destination], {
    cwd: dir,
    timeoutMs: PACK_TIMEOUT_MS,
  });
  const line = stdout
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l.endsWith(".tgz"))
    .at(-1);
  const tarball = resolve(destination, line ?? "");
  if (!line || !tarball.startsWith(destination + sep)) {
    throw new Error(
      `pnpm pack in ${dir} named no tarball in ${destination}:\n${stdout}\n${stderr}`,
    );
  }
  await access(tarball);
  return tarball;
}

/**
 * Creates a fresh npm project and installs the tarball of `entry` into it, as a user would install
 * the package from the registry. The other @cpg packages are not on the registry: `overrides` points
 * npm at their tarballs, so they are installed as `entry`'s dependencies without being listed in the
 * project's dependencies. Everything else comes from the registry.
 */
async function createProject(name: string, entry: string, fixtures: string[]): Promise<string> {
  const dir = join(tmpRoot!, name);
  await mkdir(dir);
  const env = childEnv();
  await runCommand("npm", ["init", "-y"], { cwd: dir, env, timeoutMs: NPM_TIMEOUT_MS });
  const manifestPath = join(dir, "package.json");
  const manifest = await readJson(manifestPath);
  manifest.private = true;
  manifest.overrides = Object.fromEntries(
    [...packed.values()].filter((p) => p.name !== entry).map((p) => [p.name, `file:${p.tarball}`]),
  );
  await writeFile(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);
  const tarball = packed.get(entry)?.tarball;
  if (!tarball) throw new Error(`${entry} was not packed: is it still under packages/?`);
  await runCommand("npm", ["install", "--no-audit", "--no-fund", tarball], {
    cwd: dir,
    env,
    timeoutMs: NPM_TIMEOUT_MS,
  });
  for (const fixture of fixtures) await copyFile(join(fixturesDir, fixture), join(dir, fixture));
  return dir;
}

function start(script: string, cwd: string, args: string[]): NodeProcess {
  const child = startNodeProcess(script, join(cwd, script), args, { cwd, env: childEnv() });
  processes.push(child);
  return child;
}

/**
 * The environment of a user's shell: without what pnpm and vitest add for the script running this
 * test (npm_config_* copied from pnpm's configuration would change how npm behaves), but with the
 * registry, proxy and certificate settings.
 */
function childEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    const npmSetting = /^p?npm_/i.test(key);
    const kept =
      /^npm_config_(registry|cache|cafile|ca|proxy|https_proxy|noproxy|strict_ssl|userconfig)$/i;
    if (npmSetting && !kept.test(key)) continue;
    if (/^(VITEST.*|NODE_OPTIONS|NODE_PATH|NODE_ENV)$/.test(key)) continue;
    env[key] = value;
  }
  env.npm_config_update_notifier = "false";
  return env;
}

/** Where a program in `project` must find `name`: the project's node_modules, never the workspace. */
function entryOf(project: string, name: string, ext: "mjs" | "cjs"): string {
  const dist = join(project, "node_modules", name, "dist");
  return ext === "cjs" ? join(dist, "index.cjs") : pathToFileURL(join(dist, "index.js")).href;
}

async function readJson(path: string): Promise<Json> {
  return JSON.parse(await readFile(path, "utf8")) as Json;
}

/** The lines of `text` that are JSON objects. */
function jsonLines(text: string): Json[] {
  const lines: Json[] = [];
  for (const line of text.split("\n")) {
    if (!line.startsWith("{")) continue;
    try {
      lines.push(JSON.parse(line) as Json);
    } catch {
      // Not JSON after all: ignore it.
    }
  }
  return lines;
}
