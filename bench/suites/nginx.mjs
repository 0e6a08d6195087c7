// The router against nginx: the same unary gRPC call to the same provider
// through nginx (the Debian package, started here on 127.0.0.1 as an HTTP/2
// gRPC proxy with a keep-alive upstream) and through the cpg host's router;
// ratios cpg/nginx of p50 latency (concurrency 1) and of throughput at
// concurrency 64. The direct call is measured alongside, and so is the least
// a Node.js proxy can do (bench/lib/pipe-proxy.mjs: every stream piped to
// the provider, nothing else), which bounds what a router written on
// Node's HTTP/2 stack on both sides can reach on the machine (the cpg router
// uses neither: the host has its own HTTP/2 server towards callers and its
// own HTTP/2 client towards providers).
//
//   pnpm bench   (or: node bench/run.mjs nginx)
//
// Host, provider, nginx and load generator each run in a process of their
// own; rounds interleave the four targets. Skipped with a message when
// nginx is not installed (apt-get install nginx); CPG_BENCH_NGINX names
// another binary ("none": skip). BENCH_ROUNDS, BENCH_CALLS, BENCH_LATENCY_MS
// and BENCH_TPUT_MS override the sizes.

import { startChild } from "../lib/child-process.mjs";
import { findNginx, nginxVersion, startNginxGrpcProxy } from "../lib/nginx-proxy.mjs";
import { report } from "../lib/report.mjs";
import { measureTargets, roundRatio, startRouterRig } from "../lib/router-rig.mjs";
import { formatRatio } from "../lib/stats.mjs";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 8);
const CALLS = Number(process.env.BENCH_CALLS ?? 1000);
const LATENCY_MS = Number(process.env.BENCH_LATENCY_MS ?? 800);
const TPUT_MS = Number(process.env.BENCH_TPUT_MS ?? 600);
const TPUT_CONCURRENCY = 64;
const SECTION = "cpg router vs nginx (gRPC over HTTP/2, same provider)";

const binary = findNginx();
if (binary === undefined) {
  const skipped = "skipped: nginx not installed (apt-get install nginx)";
  report({
    section: SECTION,
    rows: [
      { name: "cpg/nginx p50", value: skipped, method: "not measured" },
      {
        name: `cpg/nginx throughput c=${TPUT_CONCURRENCY}`,
        value: skipped,
        method: "not measured",
      },
    ],
    results: {},
  });
} else {
  const rig = await startRouterRig();
  let nginx;
  let pipe;
  let m;
  try {
    nginx = await startNginxGrpcProxy({
      binary,
      upstreamPort: Number(new URL(rig.providerUrl).port),
    });
    pipe = await startChild(new URL("../lib/pipe-proxy.mjs", import.meta.url).pathname, {
      args: [rig.providerUrl],
    });
    await rig.load.call("target", { name: "nginx", baseUrl: nginx.url });
    await rig.load.call("ready", { name: "nginx" });
    await rig.load.call("target", { name: "pipe", baseUrl: pipe.info.url });
    await rig.load.call("ready", { name: "pipe" });
    m = await measureTargets(rig.load, ["nginx", "routed", "pipe", "direct"], {
      rounds: ROUNDS,
      latencyCalls: CALLS,
      latencyMs: LATENCY_MS,
      concurrencies: [TPUT_CONCURRENCY],
      throughputMs: TPUT_MS,
      cpu: { host: rig.host, nginx: nginx.cpu, pipe },
    });
  } finally {
    await pipe?.stop();
    await nginx?.stop();
    await rig.stop();
  }

  const { nginx: viaNginx, routed: viaCpg, pipe: viaPipe, direct } = m;
  const p50Ratio = roundRatio(viaCpg.roundP50, viaNginx.roundP50);
  const tputRatio = roundRatio(
    viaCpg.tputRounds[TPUT_CONCURRENCY],
    viaNginx.tputRounds[TPUT_CONCURRENCY],
  );
  const us = (v) => `${v.toFixed(0)} µs`;
  const rate = (v) => `${v.toFixed(0)} calls/s`;
  const latencyMethod =
    `unary Echo over gRPC/HTTP/2, one call at a time, up to ${CALLS} calls or ${LATENCY_MS} ms per ` +
    `target in each of ${ROUNDS} interleaved rounds; percentiles of all calls, ratios = median of ` +
    "per-round p50 ratios";
  const tputMethod =
    `${TPUT_CONCURRENCY} callers on one HTTP/2 connection calling back to back for ${TPUT_MS} ms; ` +
    `median of ${ROUNDS} interleaved rounds, ratio = median of per-round ratios`;
  const p50RatioRow = (name, a, b) => ({
    name,
    value: formatRatio(roundRatio(a.roundP50, b.roundP50)),
    method: latencyMethod,
  });
  report({
    section: SECTION,
    rows: [
      {
        name: "direct p50 / p99",
        value: `${us(direct.p50)} / ${us(direct.p99)}`,
        method: latencyMethod,
      },
      {
        name: "nginx p50 / p99",
        value: `${us(viaNginx.p50)} / ${us(viaNginx.p99)}`,
        method: latencyMethod,
      },
      {
        name: "cpg router p50 / p99",
        value: `${us(viaCpg.p50)} / ${us(viaCpg.p99)}`,
        method: latencyMethod,
      },
      {
        name: "Node pipe proxy p50 / p99",
        value: `${us(viaPipe.p50)} / ${us(viaPipe.p99)}`,
        method: latencyMethod,
      },
      p50RatioRow("nginx/direct p50", viaNginx, direct),
      p50RatioRow("cpg/direct p50", viaCpg, direct),
      {
        name: "cpg/nginx p50",
        value: formatRatio(p50Ratio),
        target: "<= 1.25x",
        met: p50Ratio <= 1.25,
        method: latencyMethod,
      },
      p50RatioRow("Node pipe proxy/nginx p50", viaPipe, viaNginx),
      p50RatioRow("cpg/Node pipe proxy p50", viaCpg, viaPipe),
      {
        name: `direct throughput c=${TPUT_CONCURRENCY}`,
        value: rate(direct.tput[TPUT_CONCURRENCY]),
        method: tputMethod,
      },
      {
        name: `nginx throughput c=${TPUT_CONCURRENCY}`,
        value: rate(viaNginx.tput[TPUT_CONCURRENCY]),
        method: tputMethod,
      },
      {
        name: `cpg router throughput c=${TPUT_CONCURRENCY}`,
        value: rate(viaCpg.tput[TPUT_CONCURRENCY]),
        method: tputMethod,
      },
      {
        name: `Node pipe proxy throughput c=${TPUT_CONCURRENCY}`,
        value: rate(viaPipe.tput[TPUT_CONCURRENCY]),
        method: tputMethod,
      },
      {
        name: `cpg/nginx throughput c=${TPUT_CONCURRENCY}`,
        value: formatRatio(tputRatio),
        target: ">= 0.80x",
        met: tputRatio >= 0.8,
        method: tputMethod,
      },
      {
        name: `cpg/Node pipe proxy throughput c=${TPUT_CONCURRENCY}`,
        value: formatRatio(
          roundRatio(viaCpg.tputRounds[TPUT_CONCURRENCY], viaPipe.tputRounds[TPUT_CONCURRENCY]),
        ),
        method: tputMethod,
      },
      {
        name: "proxy CPU per call: nginx / Node pipe / cpg host",
        value: `${us(viaNginx.cpuPerCall.nginx)} / ${us(viaPipe.cpuPerCall.pipe)} / ${us(viaCpg.cpuPerCall.host)}`,
        method:
          "CPU time (user + system) of the nginx process over its throughput windows, of the pipe " +
          "proxy over its own and of the host process over the router's, per call (nginx's from " +
          "/proc, 10 ms steps)",
      },
    ],
    results: {
      cpg_nginx_p50_ratio: round(p50Ratio),
      cpg_nginx_tput_ratio: round(tputRatio),
      pipe_nginx_p50_ratio: round(roundRatio(viaPipe.roundP50, viaNginx.roundP50)),
      cpg_pipe_p50_ratio: round(roundRatio(viaCpg.roundP50, viaPipe.roundP50)),
    },
    notes: [
      `${nginxVersion(binary)}: one process (master_process off, worker_processes 1), h2c listener, ` +
        "grpc_pass to an upstream with keepalive 16, access log off. cpg: host defaults, metrics on. " +
        "Node pipe proxy: bench/lib/pipe-proxy.mjs, node:http2 streams piped to one upstream session " +
        "(no auth, routing, metrics or limits). " +
        `Per-round p50 (µs) nginx ${viaNginx.roundP50.map((v) => v.toFixed(0)).join(" ")}, ` +
        `pipe ${viaPipe.roundP50.map((v) => v.toFixed(0)).join(" ")}, ` +
        `cpg ${viaCpg.roundP50.map((v) => v.toFixed(0)).join(" ")}.`,
    ],
  });
}

function round(v) {
  return Math.round(v * 1000) / 1000;
}
