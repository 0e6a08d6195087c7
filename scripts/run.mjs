#!/usr/bin/env node
// Entry point of `npm test`, `npm run demo` and `npm run bench` on a machine that has only Node
// and npm: installs the pinned pnpm locally (no global install, no corepack),
// installs the workspace, then runs the requested task through turbo.
//
//   node scripts/run.mjs test   build, typecheck, lint, test, package checks
//   node scripts/run.mjs demo   build and start the demo host with its plugins
//   node scripts/run.mjs bench  build, then run every benchmark (bench/run.mjs)
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
const pnpmVersion = pkg.packageManager.replace(/^pnpm@/, "");
const task = process.argv[2];

const [major, minor] = process.versions.node.split(".").map(Number);
if (major < 20 || (major === 20 && minor < 19)) {
  fail(`cpg needs Node 20.19 or newer; this is ${process.version}.`);
}

const toolsDir = join(root, ".cache", "tools");
const env = {
  ...process.env,
  TURBO_TELEMETRY_DISABLED: "1",
  DO_NOT_TRACK: "1",
  // Part of turbo's task hash, so a run on another Node version never reuses
  // cached results of this one.
  CPG_NODE_VERSION: process.version,
  PATH: [join(toolsDir, "node_modules", ".bin"), process.env.PATH].join(":"),
};

function run(cmd, args, options = {}) {
  const r = spawnSync(cmd, args, { cwd: root, env, stdio: "inherit", ...options });
  if (r.error) fail(`${cmd}: ${r.error.message}`);
  return r.status ?? 1;
}

function fail(message) {
  console.error(`cpg: ${message}`);
  process.exit(1);
}

function ensurePnpm() {
  const probe = spawnSync("pnpm", ["--version"], { env, encoding: "utf8" });
  if (probe.status === 0 && probe.stdout.trim() === pnpmVersion) return;
  console.log(`cpg: installing pnpm ${pnpmVersion} into .cache/tools`);
  const status = run("npm", [
    "install",
    "--prefix",
    toolsDir,
    "--no-save",
    "--no-audit",
    "--no-fund",
    "--loglevel=error",
    `pnpm@${pnpmVersion}`,
  ]);
  if (status !== 0) fail("could not install pnpm with npm");
}

// Sums the JSON reports vitest writes in every package into one closing line.
function summarize() {
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  const dirs = ["packages", "apps"].flatMap((d) =>
    existsSync(join(root, d)) ? readdirSync(join(root, d)).map((n) => join(root, d, n)) : [],
  );
  dirs.push(join(root, "bench"));
  for (const dir of dirs) {
    const report = join(dir, "test-artifacts", "vitest.json");
    if (!existsSync(report)) continue;
    const r = JSON.parse(readFileSync(report, "utf8"));
    passed += r.numPassedTests ?? 0;
    failed += r.numFailedTests ?? 0;
    skipped += (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
  }
  console.log(`\ncpg tests on Node ${process.version}:`);
  console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
  return failed;
}

ensurePnpm();
const frozen = existsSync(join(root, "pnpm-lock.yaml")) ? ["--frozen-lockfile"] : [];
if (run("pnpm", ["install", ...frozen, "--reporter=append-only"]) !== 0) {
  fail("pnpm install failed");
}

switch (task) {
  case "test": {
    const status = run("pnpm", [
      "turbo",
      "run",
      "build",
      "typecheck",
      "lint",
      "test",
      "check:package",
      "--output-logs=new-only",
      "--concurrency=2",
      "--continue",
    ]);
    const generated = run("node", ["scripts/check-generated.mjs"]);
    const breaking = run("node", ["scripts/check-breaking.mjs"]);
    const failedTests = summarize();
    process.exit(status !== 0 || generated !== 0 || breaking !== 0 || failedTests !== 0 ? 1 : 0);
    break;
  }
  case "demo": {
    if (run("pnpm", ["turbo", "run", "build", "--output-logs=errors-only"]) !== 0) {
      fail("build failed");
    }
    process.exit(run("pnpm", ["--filter", "@cpg/demo-host", "start"]));
    break;
  }
  case "bench": {
    if (
      run("pnpm", [
        "turbo",
        "run",
        "build",
        "--filter=@cpg/bench...",
        "--output-logs=errors-only",
      ]) !== 0
    ) {
      fail("build failed");
    }
    process.exit(run("node", ["bench/run.mjs", ...process.argv.slice(3)]));
    break;
  }
  default:
    fail(`unknown task ${JSON.stringify(task)}; use "test", "demo" or "bench"`);
}
