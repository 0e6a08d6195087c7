// Routed vs direct: the same small unary gRPC call (and a server stream of
// 1,000 messages) from one plugin to another directly, and through the host's
// router; latency p50/p99 at concurrency 1, throughput at concurrency 16 and
// 64, and the ratios routed/direct.
//
//   pnpm bench   (or: node bench/run.mjs routed)
//
// Host, provider and load generator each run in a process of their own
// (bench/lib/router-rig.mjs); the caller speaks gRPC over HTTP/2 (one
// connection per target), the router reaches the provider over HTTP/2 (h2c).
// Direct and routed rounds interleave, so that both see the same machine,
// and ratios are the median of the per-round ratios.
// BENCH_ROUNDS, BENCH_CALLS, BENCH_LATENCY_MS and BENCH_TPUT_MS override the sizes.
import { report } from "../lib/report.mjs";
import { measureTargets, roundRatio, startRouterRig } from "../lib/router-rig.mjs";
import { formatRatio } from "../lib/stats.mjs";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 8);
const CALLS = Number(process.env.BENCH_CALLS ?? 1000);
const LATENCY_MS = Number(process.env.BENCH_LATENCY_MS ?? 800);
const TPUT_MS = Number(process.env.BENCH_TPUT_MS ?? 600);
const STREAM = 1000;
const STREAM_REPS = 2;

const rig = await startRouterRig();
let m;
try {
  m = await measureTargets(rig.load, ["direct", "routed"], {
    rounds: ROUNDS,
    latencyCalls: CALLS,
    latencyMs: LATENCY_MS,
    concurrencies: [16, 64],
    throughputMs: TPUT_MS,
    streamCount: STREAM,
    streamReps: STREAM_REPS,
    cpu: { host: rig.host, provider: rig.provider },
  });
} finally {
  await rig.stop();
}

const { direct, routed } = m;
const p50Ratio = roundRatio(routed.roundP50, direct.roundP50);
const tput16Ratio = roundRatio(routed.tputRounds[16], direct.tputRounds[16]);
const tput64Ratio = roundRatio(routed.tputRounds[64], direct.tputRounds[64]);
const streamRatio = roundRatio(routed.streamRuns, direct.streamRuns);

const us = (v) => `${v.toFixed(0)} µs`;
const rate = (v) => `${v.toFixed(0)} calls/s`;
const ms = (v) => `${v.toFixed(1)} ms`;
const latencyMethod =
  `unary Echo over gRPC/HTTP/2, one call at a time, up to ${CALLS} calls or ${LATENCY_MS} ms per target ` +
  `in each of ${ROUNDS} interleaved rounds (${direct.calls} direct, ${routed.calls} routed calls); ` +
  "percentiles of all calls, ratio = median of per-round p50 ratios";
const tputMethod =
  `N callers on one HTTP/2 connection calling back to back for ${TPUT_MS} ms; median of ${ROUNDS} ` +
  "interleaved rounds, ratio = median of per-round ratios";
const cpuMethod =
  "CPU time (user + system) of the host process over all routed throughput windows, per call, " +
  "next to the provider's CPU per call (a full Connect server) in the same windows";
const streamMethod =
  `server stream of ${STREAM} messages, call to last message; median of ${ROUNDS * STREAM_REPS}, ` +
  "ratio = median of paired ratios";

report({
  section: "Routed vs direct (plugin -> host router -> plugin, gRPC over HTTP/2)",
  rows: [
    {
      name: "direct unary p50 / p99",
      value: `${us(direct.p50)} / ${us(direct.p99)}`,
      method: latencyMethod,
    },
    {
      name: "routed unary p50 / p99",
      value: `${us(routed.p50)} / ${us(routed.p99)}`,
      method: latencyMethod,
    },
    {
      name: "routed/direct p50",
      value: formatRatio(p50Ratio),
      target: "<= 1.60x",
      met: p50Ratio <= 1.6,
      method: latencyMethod,
    },
    { name: "direct throughput c=16", value: rate(direct.tput[16]), method: tputMethod },
    { name: "routed throughput c=16", value: rate(routed.tput[16]), method: tputMethod },
    { name: "routed/direct throughput c=16", value: formatRatio(tput16Ratio), method: tputMethod },
    { name: "direct throughput c=64", value: rate(direct.tput[64]), method: tputMethod },
    { name: "routed throughput c=64", value: rate(routed.tput[64]), method: tputMethod },
    {
      name: "routed/direct throughput c=64",
      value: formatRatio(tput64Ratio),
      target: ">= 0.60x",
      met: tput64Ratio >= 0.6,
      method: tputMethod,
    },
    {
      name: "host CPU per routed call",
      value: `${us(routed.cpuPerCall.host)} (${formatRatio(routed.cpuPerCall.host / routed.cpuPerCall.provider)} of the provider's)`,
      method: cpuMethod,
    },
    { name: "direct server stream", value: ms(direct.streamMs), method: streamMethod },
    { name: "routed server stream", value: ms(routed.streamMs), method: streamMethod },
    { name: "routed/direct server stream", value: formatRatio(streamRatio), method: streamMethod },
  ],
  results: {
    routed_direct_p50_ratio: round(p50Ratio),
    routed_direct_tput64_ratio: round(tput64Ratio),
  },
  notes: [
    "Host, provider and load generator run in separate processes on the same machine. Per-round p50 (µs): " +
      `direct ${direct.roundP50.map((v) => v.toFixed(0)).join(" ")}; ` +
      `routed ${routed.roundP50.map((v) => v.toFixed(0)).join(" ")}.`,
  ],
});

function round(v) {
  return Math.round(v * 1000) / 1000;
}
