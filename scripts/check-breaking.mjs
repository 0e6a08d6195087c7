#!/usr/bin/env node
// Fails when proto/ changes the wire contract incompatibly (buf breaking,
// WIRE_JSON rules) compared with the first version of the contract in this
// repository. Skips with a note when git history is not available (a shallow
// or exported copy).
import { spawnSync } from "node:child_process";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const BASELINE = "3299583"; // the commit that first landed the wire contract
const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");

const known = spawnSync("git", ["cat-file", "-e", `${BASELINE}^{commit}`], {
  cwd: root,
  stdio: "ignore",
});
if (known.status !== 0) {
  console.log(`check-breaking: skipped, commit ${BASELINE} is not in this checkout's history`);
  process.exit(0);
}
// buf clones the repository to find the baseline, 50 commits deep by
// default: ask for the whole history.
const count = spawnSync("git", ["rev-list", "--count", "HEAD"], { cwd: root, encoding: "utf8" });
const depth = Number(count.stdout.trim()) + 1;
const full = spawnSync("git", ["rev-parse", `${BASELINE}^{commit}`], {
  cwd: root,
  encoding: "utf8",
});
const against = `.git#ref=${full.stdout.trim()},depth=${depth},subdir=proto`;
const r = spawnSync("pnpm", ["exec", "buf", "breaking", "--against", against], {
  cwd: root,
  stdio: "inherit",
});
if (r.status !== 0) {
  console.error(
    "check-breaking: the wire contract changed incompatibly (see above); field numbers, names and types never change",
  );
  process.exit(1);
}
console.log(`check-breaking: proto/ is wire-compatible with ${BASELINE}`);
