#!/usr/bin/env node
// Fails when `buf generate` would change committed generated code: runs each
// buf template into a temporary directory and compares every file with the
// committed tree.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const targets = [
  { template: "buf.gen.yaml", dir: join("packages", "protocol", "src", "gen") },
  { template: "buf.gen.examples.yaml", dir: join("apps", "examples-proto", "src", "gen") },
];

function list(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? list(p) : [p];
  });
}

const problems = [];
let checked = 0;
for (const { template, dir } of targets) {
  const out = mkdtempSync(join(tmpdir(), "cpg-gen-"));
  try {
    const r = spawnSync(
      "pnpm",
      ["exec", "buf", "generate", "--template", template, "--output", out],
      {
        cwd: root,
        stdio: "inherit",
      },
    );
    if (r.status !== 0) {
      problems.push(`buf generate --template ${template} failed`);
      continue;
    }
    const committed = join(root, dir);
    const fresh = join(out, dir);
    const a = new Map(list(committed).map((p) => [relative(committed, p), p]));
    const b = new Map(list(fresh).map((p) => [relative(fresh, p), p]));
    for (const [name, p] of b) {
      checked++;
      if (!a.has(name)) problems.push(`${dir}: missing from the commit: ${name}`);
      else if (readFileSync(p, "utf8") !== readFileSync(a.get(name), "utf8")) {
        problems.push(`${dir}: differs from buf generate: ${name}`);
      }
    }
    for (const name of a.keys()) {
      if (!b.has(name)) problems.push(`${dir}: not produced by buf generate: ${name}`);
    }
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}
if (problems.length > 0) {
  console.error("check-generated: generated code is out of date; run `pnpm generate`:");
  for (const p of problems) console.error(`  ${p}`);
  process.exit(1);
}
console.log(`check-generated: ${checked} generated files match buf generate`);
