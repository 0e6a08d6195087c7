// Runs every bench suite, one process at a time so that they do not disturb
// one another, prints one table per suite and writes bench/results.json.
//
//   pnpm bench                 (from the repository root: builds, then runs all)
//   node bench/run.mjs micro   (only the named suites; packages must be built)
//
// Benchmarks are not tests: they print figures and never fail on time. The
// exit code is non-zero only when a suite crashes.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { formatSection } from "./lib/table.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const ORDER = ["routed", "nginx", "micro", "ratelimit", "watch", "inmemory"];
const RESULT_KEYS = [
  "routed_direct_p50_ratio",
  "routed_direct_tput64_ratio",
  "cpg_nginx_p50_ratio",
  "cpg_nginx_tput_ratio",
  "token_validations_per_s",
  "ratelimit_decisions_per_s",
  "discovery_10k_vs_10_ratio",
  "watch_bytes_per_stream",
  "watch_fanout_10k_ms",
  "inmemory_call_p50_us",
];

const available = readdirSync(join(here, "suites"))
  .filter((f) => f.endsWith(".mjs"))
  .map((f) => f.slice(0, -4))
  .sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
const wanted = process.argv.slice(2);
for (const name of wanted) {
  if (!available.includes(name)) {
    console.error(`unknown suite "${name}"; suites: ${available.join(", ")}`);
    process.exit(2);
  }
}
const suites = wanted.length > 0 ? available.filter((s) => wanted.includes(s)) : available;

const machine = {
  started: new Date().toISOString(),
  load: loadavg()
    .map((l) => l.toFixed(2))
    .join(", "),
};
const scratch = mkdtempSync(join(tmpdir(), "cpg-bench-"));
const sections = [];
const results = {};
let crashed = 0;
console.log(
  `cpg bench: node ${process.version}, ${cpus().length} x ${cpus()[0]?.model ?? "unknown CPU"}`,
);
for (const suite of suites) {
  console.log(`\n> ${suite}`);
  const file = join(scratch, `${suite}.json`);
  const started = Date.now();
  const run = spawnSync(process.execPath, ["--expose-gc", join(here, "suites", `${suite}.mjs`)], {
    stdio: "inherit",
    env: { ...process.env, CPG_BENCH_REPORT: file },
  });
  const seconds = ((Date.now() - started) / 1000).toFixed(0);
  let report;
  try {
    report = JSON.parse(readFileSync(file, "utf8"));
  } catch {
    console.error(
      `suite ${suite} produced no report (exit ${run.status ?? run.signal}, ${seconds} s)`,
    );
    crashed++;
    continue;
  }
  console.log(`  done in ${seconds} s`);
  sections.push(report);
  Object.assign(results, report.results);
}
rmSync(scratch, { recursive: true, force: true });

console.log("");
for (const section of sections) console.log(`${formatSection(section)}\n`);
const missing = RESULT_KEYS.filter((key) => !(key in results));
if (missing.length > 0) console.log(`not measured in this run: ${missing.join(", ")}`);
if (wanted.length === 0) {
  writeFileSync(join(here, "results.json"), `${JSON.stringify(results, null, 2)}\n`);
  writeFileSync(join(here, "RESULTS.md"), resultsMarkdown());
  console.log("wrote bench/results.json and bench/RESULTS.md");
} else {
  console.log("bench/results.json and bench/RESULTS.md are written only by a full run");
}
process.exitCode = crashed > 0 ? 1 : 0;

function resultsMarkdown() {
  const cpu = cpus();
  const lines = [
    "# Benchmark results",
    "",
    "Written by `pnpm bench` (bench/run.mjs) from its last full run; every figure was measured in that one run.",
    "",
    `- Date: ${machine.started}`,
    `- Machine: ${cpu.length} x ${cpu[0]?.model ?? "unknown CPU"}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM, ${process.platform} ${process.arch}`,
    `- Node ${process.version}; load average at the start: ${machine.load}`,
    "",
  ];
  for (const section of sections) lines.push("```", formatSection(section), "```", "");
  const missing = RESULT_KEYS.filter((key) => !(key in results));
  if (missing.length > 0) lines.push(`Not measured in this run: ${missing.join(", ")}.`, "");
  lines.push("`bench/results.json`:", "", "```json", JSON.stringify(results, null, 2), "```", "");
  return lines.join("\n");
}

function rank(name) {
  const i = ORDER.indexOf(name);
  return i < 0 ? ORDER.length : i;
}
