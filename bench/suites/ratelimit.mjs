// Decisions per second of @cpg/ratelimit's in-memory limiter at 10,000 keys on
// one core (the synchronous take), measured side by side with a bare
// Map-based token bucket as the reference, and their ratio.
//
//   pnpm bench   (or: node bench/run.mjs ratelimit)
//
// Rates are per second of CPU time of the measuring process (one core), which
// other load on the machine disturbs less than wall time.
// Every measurement runs in a fresh child process so that no subject's
// JIT feedback slows another's; rounds interleave the subjects so that they
// share the machine's state evenly, and the median round is reported.
// BENCH_DECISIONS and BENCH_ROUNDS override the sizes.
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { createRateLimiter, monotonicClock } from "@cpg/ratelimit";
import { report } from "../lib/report.mjs";
import { formatRate, formatRatio, median } from "../lib/stats.mjs";

const KEYS = 10_000;
const DECISIONS = Number(process.env.BENCH_DECISIONS ?? 10_000_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
// Buckets that never run dry, so every decision takes the grant path (the
// one that writes the bucket).
const RATE = 1e12;
const BURST = 1e12;

/** The reference: the least a Map-based token bucket has to do. */
function createMapBucket(rate, burst, now) {
  const buckets = new Map();
  return function take(key) {
    const t = now();
    const b = buckets.get(key);
    if (b === undefined) {
      buckets.set(key, { tokens: burst - 1, last: t });
      return true;
    }
    let tokens = b.tokens + ((t - b.last) * rate) / 1000;
    if (tokens > burst) tokens = burst;
    if (tokens < 1) return false;
    b.tokens = tokens - 1;
    b.last = t;
    return true;
  };
}

const subjects = {
  reference: {
    label: "Map bucket (reference)",
    make: () => createMapBucket(RATE, BURST, monotonicClock.now),
  },
  take: {
    label: "limiter.take(key) -> decision",
    make: () => {
      const limiter = createRateLimiter({ rate: RATE, burst: BURST, sweepIntervalMs: 0 });
      return (key) => limiter.take(key).allowed;
    },
  },
  tryTake: {
    label: "limiter.tryTake(key) -> boolean",
    make: () => {
      const limiter = createRateLimiter({ rate: RATE, burst: BURST, sweepIntervalMs: 0 });
      return (key) => limiter.tryTake(key);
    },
  },
  uncachedClock: {
    label: "limiter.take, clock = performance.now",
    make: () => {
      const clock = { now: () => performance.now() };
      const limiter = createRateLimiter({ rate: RATE, burst: BURST, clock, sweepIntervalMs: 0 });
      return (key) => limiter.take(key).allowed;
    },
  },
};

/** Measures one subject in this process; returns decisions per second. */
function measure(decide) {
  const keys = Array.from(
    { length: KEYS },
    (_, i) => `ip:10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
  );
  const loop = () => {
    let allowed = 0;
    let k = 0;
    const start = process.cpuUsage();
    for (let i = 0; i < DECISIONS; i++) {
      if (decide(keys[k])) allowed++;
      if (++k === KEYS) k = 0;
    }
    const used = process.cpuUsage(start);
    const seconds = (used.user + used.system) / 1e6;
    if (allowed !== DECISIONS) throw new Error(`expected every decision allowed, got ${allowed}`);
    return DECISIONS / seconds;
  };
  loop(); // warm-up: optimise, and create all 10,000 buckets
  return loop();
}

const only = process.argv.indexOf("--subject");
if (only >= 0) {
  const name = process.argv[only + 1];
  process.stdout.write(`${measure(subjects[name].make())}\n`);
} else {
  const self = fileURLToPath(import.meta.url);
  const results = Object.fromEntries(Object.keys(subjects).map((name) => [name, []]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const name of Object.keys(subjects)) {
      const out = execFileSync(process.execPath, [self, "--subject", name], { encoding: "utf8" });
      results[name].push(Number(out.trim()));
    }
  }
  const reference = median(results.reference);
  const method =
    `${KEYS.toLocaleString("en")} keys, ${DECISIONS.toLocaleString("en")} decisions per round in a fresh process, ` +
    `per second of CPU time, median of ${ROUNDS} interleaved rounds`;
  const rows = Object.entries(subjects).map(([name, { label }]) => {
    const rate = median(results[name]);
    return {
      name: label,
      value: `${formatRate(rate)} (${formatRatio(rate / reference)} of reference)`,
      ...(name === "take" ? { target: ">= 10 M/s", met: rate >= 10e6 } : {}),
      method,
    };
  });
  report({
    section: "Rate-limit decisions (@cpg/ratelimit, in memory, one core)",
    rows,
    results: { ratelimit_decisions_per_s: Math.round(median(results.take)) },
  });
}
