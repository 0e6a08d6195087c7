// In-memory plugin call vs a direct function call.
//
// Two plugins run in the host process (the platform's in-memory launcher): a
// provider of EchoService and a caller that requires it. The caller's typed
// client (`plugin.client(EchoService)`) goes through the host's router —
// caller token, rate limit, caller policy, provider health, route events —
// and reaches the provider's implementation through its interceptors,
// without sockets or serialization. The reference is the same implementation
// called directly. Sequential calls (concurrency 1), p50 and p99 of
// interleaved rounds.
//
//   node bench/run.mjs inmemory        BENCH_INMEMORY_CALLS overrides 20,000

import { createHandlerContext } from "@connectrpc/connect";
import { EchoService } from "@cpg/examples-proto";
import { createHost } from "@cpg/host";
import { provide } from "@cpg/plugin-sdk";
import { report } from "../lib/report.mjs";
import { percentile } from "../lib/stats.mjs";

const CALLS = Number(process.env.BENCH_INMEMORY_CALLS ?? 20_000);
const ROUNDS = 5;
const silent = { debug() {}, info() {}, warn() {}, error() {} };

const implementation = {
  async echo(req) {
    return { message: req.message };
  },
};

const host = createHost({ profile: "development", logger: silent, rateLimits: false });
let caller;
await host.platform.start([
  {
    name: "echo",
    strategy: {
      kind: "in-memory",
      plugin: {
        selfId: "echo",
        version: "1.0.0",
        logger: silent,
        services: [provide(EchoService, implementation, { type: "echo" })],
      },
    },
  },
  {
    name: "caller",
    strategy: {
      kind: "in-memory",
      plugin: { selfId: "caller", version: "1.0.0", logger: silent, requires: [{ type: "echo" }] },
      attach(plugin) {
        caller = plugin;
        return undefined;
      },
    },
  },
]);

const client = caller.client(EchoService, { type: "echo" });
const context = createHandlerContext({
  service: EchoService,
  method: EchoService.method.echo,
  protocolName: "direct",
  requestMethod: "POST",
  url: "direct://echo",
});
const subjects = {
  direct: (request) => implementation.echo(request, context),
  routed: (request) => client.echo(request),
};

async function measure(call, n) {
  const samples = new Float64Array(n);
  const request = { message: "hello" };
  for (let i = 0; i < n; i++) {
    const start = performance.now();
    const res = await call(request);
    samples[i] = performance.now() - start;
    if (res.message !== "hello") throw new Error(`unexpected answer ${JSON.stringify(res)}`);
  }
  return samples;
}

for (const call of Object.values(subjects)) await measure(call, 2_000); // warm-up
const results = { direct: [], routed: [] };
for (let round = 0; round < ROUNDS; round++) {
  const order = round % 2 === 0 ? ["direct", "routed"] : ["routed", "direct"];
  for (const name of order) results[name].push(...(await measure(subjects[name], CALLS / ROUNDS)));
}
const us = (name, p) => percentile(results[name], p) * 1000;
const p50 = us("routed", 50);
const method = `${CALLS.toLocaleString("en")} sequential calls each, in ${ROUNDS} interleaved rounds after 2,000 warm-up calls; one process`;
await host.close();
report({
  section: "In-memory plugin call vs a direct function call",
  rows: [
    {
      name: "direct call of the implementation, p50 / p99",
      value: `${us("direct", 50).toFixed(2)} / ${us("direct", 99).toFixed(2)} µs`,
      method,
    },
    {
      name: "in-memory plugin call through the router, p50",
      value: `${p50.toFixed(2)} µs`,
      target: "<= 20 µs",
      met: p50 <= 20,
      method,
    },
    {
      name: "in-memory plugin call through the router, p99",
      value: `${us("routed", 99).toFixed(2)} µs`,
      method,
    },
  ],
  results: { inmemory_call_p50_us: Number(p50.toFixed(2)) },
  notes: [
    "The routed call includes the caller's credentials interceptor, the router's admission (token, rate limit, caller policy, provider health),",
    "route.completed events and metrics hooks, the provider's interceptors (drain, error metadata), and cloned request and response messages.",
  ],
});
