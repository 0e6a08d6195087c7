#!/usr/bin/env node
// Fails when `buf generate` would change the committed generated code: runs buf
// into a temporary directory and compares every file with the committed tree.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const committed = join(root, "packages", "protocol", "src", "gen");
const out = mkdtempSync(join(tmpdir(), "cpg-gen-"));

function list(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? list(p) : [p];
  });
}

try {
  const r = spawnSync("pnpm", ["exec", "buf", "generate", "--output", out], {
    cwd: root,
    stdio: "inherit",
  });
  if (r.status !== 0) {
    console.error("check-generated: buf generate failed");
    process.exit(1);
  }
  const fresh = join(out, "packages", "protocol", "src", "gen");
  const a = new Map(list(committed).map((p) => [relative(committed, p), p]));
  const b = new Map(list(fresh).map((p) => [relative(fresh, p), p]));
  const problems = [];
  for (const [name, p] of b) {
    if (!a.has(name)) problems.push(`missing from the commit: ${name}`);
    else if (readFileSync(p, "utf8") !== readFileSync(a.get(name), "utf8")) {
      problems.push(`differs from buf generate: ${name}`);
    }
  }
  for (const name of a.keys()) {
    if (!b.has(name)) problems.push(`not produced by buf generate: ${name}`);
  }
  if (problems.length > 0) {
    console.error("check-generated: packages/protocol/src/gen is out of date; run `pnpm generate`:");
    for (const p of problems) console.error(`  ${p}`);
    process.exit(1);
  }
  console.log(`check-generated: ${b.size} generated files match buf generate`);
} finally {
  rmSync(out, { recursive: true, force: true });
}
