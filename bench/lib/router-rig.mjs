// The processes of the router benchmarks, started side by side: a cpg host,
// an echo provider joined to it (registered with `http2: "true"`), and a
// load generator joined as a caller, each in a process of its own (the
// machine has few cores: in one process they would share one event loop and
// every ratio would measure that instead).
//
// The load generator starts with two targets: "direct" (the provider's own
// URL) and "routed" (<host>/services/echo/<provider runtime id>); add more
// with rig.load.call("target", { name, baseUrl }).
//
// CPG_BENCH_HOST_PROF=<dir> runs the host with --cpu-prof into <dir>.
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { startChild } from "./child-process.mjs";
import { median, percentile } from "./stats.mjs";

const here = dirname(fileURLToPath(import.meta.url));

/**
 * Starts host, provider and load generator; `stop()` ends all three.
 */
export async function startRouterRig() {
  const started = [];
  const stop = async () => {
    await Promise.allSettled(started.reverse().map((child) => child.stop()));
  };
  try {
    const prof = process.env.CPG_BENCH_HOST_PROF;
    const host = await startChild(join(here, "host-process.mjs"), {
      execArgv: prof ? ["--cpu-prof", "--cpu-prof-interval=200", `--cpu-prof-dir=${prof}`] : [],
    });
    started.push(host);
    const hostUrl = host.info.url;
    const provider = await startChild(join(here, "echo-provider.mjs"), { args: [hostUrl] });
    started.push(provider);
    const load = await startChild(join(here, "load.mjs"));
    started.push(load);
    await load.call("join", { hostUrl });
    const routedUrl = `${hostUrl}/services/echo/${provider.info.runtimeId}`;
    await load.call("target", { name: "direct", baseUrl: provider.info.url });
    await load.call("target", { name: "routed", baseUrl: routedUrl });
    await load.call("ready", { name: "direct" });
    // The provider registers itself once joined: the first calls may find nothing.
    await load.call("ready", { name: "routed" });
    return { host, provider, load, hostUrl, providerUrl: provider.info.url, routedUrl, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/**
 * @typedef {object} MeasurePlan
 * @property {number} rounds          Interleaved rounds.
 * @property {number} latencyCalls    Most sequential calls per target and round...
 * @property {number} latencyMs       ...or this long, whichever ends first.
 * @property {number[]} concurrencies Throughput is measured at each.
 * @property {number} throughputMs    Length of each throughput window.
 * @property {number} [streamCount]   Messages per server stream (0: no stream).
 * @property {number} [streamReps]    Server streams per target and round.
 * @property {Record<string, import("./child-process.mjs").Child>} [cpu]
 *   Processes whose CPU time per call is measured during throughput windows.
 */

/**
 * Measures `targets` in interleaved rounds (the order rotates each round, so
 * that no target always runs first or after the same one), after a warm-up
 * of each. Returns per target: latency percentiles in µs over all calls
 * (p50, p99) and per round (roundP50), calls/s per concurrency (median of
 * rounds, and per round), CPU µs per call of the `plan.cpu` processes
 * during throughput windows, and the median server-stream time in ms.
 * Ratios between targets are best taken round by round ({@link roundRatio}):
 * neighbouring measurements share the machine's state, which drifts when
 * other work runs on it.
 * @param {import("./child-process.mjs").Child} load
 * @param {string[]} targets
 * @param {MeasurePlan} plan
 */
export async function measureTargets(load, targets, plan) {
  const out = Object.fromEntries(
    targets.map((name) => [
      name,
      {
        samples: [],
        roundP50: [],
        tput: Object.fromEntries(plan.concurrencies.map((c) => [c, []])),
        cpu: Object.fromEntries(Object.keys(plan.cpu ?? {}).map((p) => [p, { us: 0, calls: 0 }])),
        stream: [],
      },
    ]),
  );
  const streamCount = plan.streamCount ?? 0;
  for (const name of targets) {
    await load.call("latency", { name, calls: 300, maxMs: 500 });
    for (const c of plan.concurrencies) {
      await load.call("throughput", { name, concurrency: c, ms: 300 });
    }
    if (streamCount > 0) await load.call("stream", { name, count: streamCount, reps: 2 });
  }
  for (let round = 0; round < plan.rounds; round++) {
    const order = targets.map((_, i) => targets[(i + round) % targets.length]);
    for (const name of order) {
      const samples = await load.call("latency", {
        name,
        calls: plan.latencyCalls,
        maxMs: plan.latencyMs,
      });
      out[name].samples.push(...samples);
      out[name].roundP50.push(percentile(samples, 50));
    }
    for (const c of plan.concurrencies) {
      for (const name of order) {
        const before = await cpuTimes(plan.cpu);
        const { perSecond, calls } = await load.call("throughput", {
          name,
          concurrency: c,
          ms: plan.throughputMs,
        });
        const after = await cpuTimes(plan.cpu);
        out[name].tput[c].push(perSecond);
        for (const p of Object.keys(before)) {
          out[name].cpu[p].us += after[p] - before[p];
          out[name].cpu[p].calls += calls;
        }
      }
    }
    if (streamCount > 0) {
      for (const name of order) {
        out[name].stream.push(
          ...(await load.call("stream", {
            name,
            count: streamCount,
            reps: plan.streamReps ?? 3,
          })),
        );
      }
    }
  }
  return Object.fromEntries(
    targets.map((name) => {
      const t = out[name];
      return [
        name,
        {
          calls: t.samples.length,
          p50: percentile(t.samples, 50),
          p99: percentile(t.samples, 99),
          roundP50: t.roundP50,
          tput: Object.fromEntries(plan.concurrencies.map((c) => [c, median(t.tput[c])])),
          tputRounds: t.tput,
          streamMs: t.stream.length > 0 ? median(t.stream) : Number.NaN,
          // CPU µs per call of each process in `plan.cpu`, over all throughput windows.
          cpuPerCall: Object.fromEntries(
            Object.entries(t.cpu).map(([p, { us, calls }]) => [p, us / calls]),
          ),
          streamRuns: t.stream,
        },
      ];
    }),
  );
}

async function cpuTimes(children = {}) {
  const entries = await Promise.all(
    Object.entries(children).map(async ([p, child]) => {
      const { user, system } = await child.call("cpu");
      return [p, user + system];
    }),
  );
  return Object.fromEntries(entries);
}

/** Median over rounds of a[i] / b[i]. */
export function roundRatio(a, b) {
  return median(a.map((v, i) => v / b[i]));
}
