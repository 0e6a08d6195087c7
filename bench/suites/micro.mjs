// Micro-benchmarks of the host's per-call checks, on one core:
//
// - runtime-token validation: `host.identities.verify(runtimeId, token)`, the
//   check the host's auth interceptor makes for every authenticated call, over
//   10,000 identities taken round-robin; beside it @cpg/auth's
//   `createMemoryTokenStore().verify` (the table the host keeps them in), and
//   two references: what any in-memory check must do (a Map lookup by id and an
//   expiry check against the cached clock, no comparison at all), and that plus
//   reading the presented token's characters once;
//   the same check with one identity only, as single-token benchmarks (the
//   Go original's) measure it;
// - capability-grant validation: `host.grants.verify(grantId, token)`;
// - version-constraint matching: `satisfiesMinVersion`, which discovery uses
//   for `min_version`;
// - discovery latency: the DiscoverService RPC over the host's in-memory
//   transport (every interceptor a network call goes through) with 10, 1,000
//   and 10,000 registered providers of other service types, and the registry
//   lookup under it.
//
//   pnpm bench   (or: node bench/run.mjs micro)
//
// Rates are per second of CPU time of the measuring process (one core), which
// other load on the machine disturbs less than wall time; latencies are wall
// time. Every measurement runs in a fresh child process (so no subject's JIT
// feedback or heap slows another's, and each registry size has its own heap);
// rounds interleave the subjects and the median round is reported.
// BENCH_ROUNDS, BENCH_VALIDATIONS and BENCH_DISCOVERIES override the sizes.
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { report } from "../lib/report.mjs";
import { formatRate, formatRatio, median, percentile } from "../lib/stats.mjs";

const KEYS = 10_000;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const VALIDATIONS = Number(process.env.BENCH_VALIDATIONS ?? 1_000_000);
const MATCHES = Math.max(1, Math.round(VALIDATIONS / 20));
const DISCOVERIES = Number(process.env.BENCH_DISCOVERIES ?? 1_500);
const REGISTRY_LOOKUPS = 1_000_000;
const SIZES = [10, 1_000, 10_000];
/** Providers of the discovered type, registered besides the others. */
const TARGET_PROVIDERS = 3;
const TARGET_TYPE = "bench.target.v1.EchoService";

/**
 * A copy of `s` in a new flat string, as a header parser hands it over: the
 * check must not profit from receiving the very string it stored.
 */
const fresh = (s) => Buffer.from(s, "latin1").toString("latin1");

/**
 * Calls `check(k)` `n` times with k going round-robin over 0..keys-1, after a
 * warm-up pass; returns checks per second of CPU time. Every check must pass.
 */
function checksPerCpuSecond(check, keys, n) {
  const loop = (count) => {
    let accepted = 0;
    let k = 0;
    const start = process.cpuUsage();
    for (let i = 0; i < count; i++) {
      if (check(k)) accepted++;
      if (++k === keys) k = 0;
    }
    const used = process.cpuUsage(start);
    if (accepted !== count) throw new Error(`expected every check to pass, ${accepted}/${count}`);
    return count / ((used.user + used.system) / 1e6);
  };
  loop(Math.min(n, 300_000)); // warm-up: optimise, touch every entry once
  return loop(n);
}

/** A host as users create it, rate limits off (the bench calls faster than any limit). */
async function benchHost(options = {}) {
  const { createHost, silentLogger } = await import("@cpg/host");
  return createHost({ logger: silentLogger, rateLimits: false, ...options });
}

/** Each subject runs in its own process and returns a number (or an object of numbers). */
const subjects = {
  tokenFloor: async () => {
    // The least an in-memory check can do: find the entry, check its expiry
    // (against the clock read once per synchronous run, as the store does).
    const { eventLoopNow: now } = await import("@cpg/auth");
    const table = new Map();
    const ids = [];
    for (let i = 0; i < KEYS; i++) {
      const id = `bench-${i % 100}-${i.toString(16).padStart(16, "0")}`;
      table.set(id, { expiresAt: now() + 86_400_000 });
      ids.push(fresh(id));
    }
    return checksPerCpuSecond(
      (k) => {
        const entry = table.get(ids[k]);
        return entry !== undefined && now() < entry.expiresAt;
      },
      KEYS,
      VALIDATIONS,
    );
  },
  tokenRead: async () => {
    // The floor plus reading every character of the presented token once,
    // without comparing it to anything: less than any comparison in JS can do.
    const { eventLoopNow: now } = await import("@cpg/auth");
    const table = new Map();
    const ids = [];
    const tokens = [];
    const { generateToken } = await import("@cpg/auth");
    for (let i = 0; i < KEYS; i++) {
      const id = `bench-${i % 100}-${i.toString(16).padStart(16, "0")}`;
      table.set(id, { expiresAt: now() + 86_400_000 });
      ids.push(fresh(id));
      tokens.push(fresh(generateToken()));
    }
    return checksPerCpuSecond(
      (k) => {
        const entry = table.get(ids[k]);
        if (entry === undefined || now() >= entry.expiresAt) return false;
        const token = tokens[k];
        let fold = 0;
        for (let i = 0; i < token.length; i++) fold |= token.charCodeAt(i);
        return fold !== 0;
      },
      KEYS,
      VALIDATIONS,
    );
  },
  tokenStore: async () => {
    const { createMemoryTokenStore } = await import("@cpg/auth");
    const store = createMemoryTokenStore({ maxEntries: KEYS, sweepIntervalMs: 0 });
    const ids = [];
    const tokens = [];
    for (let i = 0; i < KEYS; i++) {
      const id = `bench-${i % 100}-${i.toString(16).padStart(16, "0")}`;
      const entry = store.issue(id, undefined);
      ids.push(fresh(id));
      tokens.push(fresh(entry.token));
    }
    const rate = checksPerCpuSecond(
      (k) => store.verify(ids[k], tokens[k]) !== undefined,
      KEYS,
      VALIDATIONS,
    );
    store.close();
    return rate;
  },
  tokenHost: async () => {
    const host = await benchHost({ maxRuntimes: KEYS });
    const ids = [];
    const tokens = [];
    for (let i = 0; i < KEYS; i++) {
      const identity = await host.identities.issue({ selfId: `bench-${i % 100}` });
      ids.push(fresh(identity.runtimeId));
      tokens.push(fresh(identity.token));
    }
    const rate = checksPerCpuSecond(
      (k) => host.identities.verify(ids[k], tokens[k]) !== undefined,
      KEYS,
      VALIDATIONS,
    );
    await host.close();
    return rate;
  },
  tokenHostHot: async () => {
    // One identity checked over and over, as a benchmark of a single token
    // measures it (the Go original's figure): the working set stays in cache.
    const host = await benchHost();
    const identity = await host.identities.issue({ selfId: "bench-hot" });
    const id = fresh(identity.runtimeId);
    const token = fresh(identity.token);
    const rate = checksPerCpuSecond(
      () => host.identities.verify(id, token) !== undefined,
      1,
      VALIDATIONS,
    );
    await host.close();
    return rate;
  },
  grantHost: async () => {
    const host = await benchHost({ maxGrants: KEYS });
    const ids = [];
    const tokens = [];
    for (let i = 0; i < KEYS; i++) {
      const grant = host.grants.issue({
        capabilityType: "logger",
        runtimeId: `bench-${i % 100}-${i}`,
        selfId: `bench-${i % 100}`,
        reason: "bench",
      });
      ids.push(fresh(grant.grantId));
      tokens.push(fresh(grant.token));
    }
    const rate = checksPerCpuSecond(
      (k) => host.grants.verify(ids[k], tokens[k]) !== undefined,
      KEYS,
      VALIDATIONS,
    );
    await host.close();
    return rate;
  },
  semver: async () => {
    const { satisfiesMinVersion } = await import("@cpg/validation");
    // Provider versions against the min_version a discoverer asks for; every pair matches.
    const pairs = [
      ["1.4.2", "1.0.0"],
      ["10.0.0", "9.0.0"],
      ["2.1.0-beta.3", "2.0.0"],
      ["1.0.0", "1.0.0"],
      ["3.2.1", "3.2.0"],
      ["0.9.12", "0.9.0-rc.1"],
      ["1.1.0-beta", "1.0.0"],
      ["4.0.0", "1.2.3"],
    ].map(([v, min]) => [fresh(v), fresh(min)]);
    return checksPerCpuSecond(
      (k) => satisfiesMinVersion(pairs[k][0], pairs[k][1]),
      pairs.length,
      MATCHES,
    );
  },
  discovery: async (others) => discovery(others),
};

/**
 * Discovery with `others` registered providers of other service types (one
 * type each, on runtimes of 100 registrations) plus TARGET_PROVIDERS of the
 * discovered type. Returns the p50 and p99 of DiscoverService RPCs (µs) and
 * the registry lookup behind them (ns per `routable` + selection).
 */
async function discovery(others) {
  const { createClient } = await import("@connectrpc/connect");
  const {
    BASE_URL_METADATA_KEY,
    bearer,
    CORE_PROTOCOL_VERSION,
    HandshakeService,
    MAGIC_COOKIE_KEY,
    MAGIC_COOKIE_VALUE,
    RUNTIME_ID_HEADER,
    ServiceRegistry,
  } = await import("@cpg/protocol");
  const host = await benchHost({
    maxRuntimes: others + 100,
    maxRegistrations: others + TARGET_PROVIDERS,
  });
  const metadata = { [BASE_URL_METADATA_KEY]: "http://127.0.0.1:9" };
  let runtime;
  for (let i = 0; i < others; i++) {
    if (i % 100 === 0) runtime = await host.identities.issue({ selfId: `other-${i / 100}` });
    host.registry.register(runtime, {
      serviceType: `bench.other${i}.v1.Service`,
      version: "1.0.0",
      endpointPath: "/",
      metadata,
    });
  }
  for (let i = 0; i < TARGET_PROVIDERS; i++) {
    const provider = await host.identities.issue({ selfId: `echo-${i}` });
    host.registry.register(provider, {
      serviceType: TARGET_TYPE,
      version: `1.${i}.0`,
      endpointPath: "/",
      metadata,
    });
  }
  if (host.registry.size !== others + TARGET_PROVIDERS) throw new Error("registration failed");

  // The discoverer joins as a plugin does: handshake, then runtime credentials on every call.
  const joined = await createClient(HandshakeService, host.createInMemoryTransport()).handshake({
    coreProtocolVersion: CORE_PROTOCOL_VERSION,
    appProtocolVersion: 1,
    magicCookieKey: MAGIC_COOKIE_KEY,
    magicCookieValue: MAGIC_COOKIE_VALUE,
    selfId: "discoverer",
    selfVersion: "1.0.0",
    nonce: Buffer.from(crypto.getRandomValues(new Uint8Array(18))).toString("base64url"),
    timestampUnixMs: BigInt(Date.now()),
  });
  const headers = {
    [RUNTIME_ID_HEADER]: joined.runtimeId,
    authorization: bearer(joined.runtimeToken),
  };
  const registry = createClient(ServiceRegistry, host.createInMemoryTransport());
  const discover = () => registry.discoverService({ serviceType: TARGET_TYPE }, { headers });
  for (let i = 0; i < 300; i++) await discover(); // warm-up
  const rpc = new Float64Array(DISCOVERIES);
  for (let i = 0; i < DISCOVERIES; i++) {
    const start = process.hrtime.bigint();
    const res = await discover();
    rpc[i] = Number(process.hrtime.bigint() - start) / 1e3;
    if (res.endpoint === undefined) throw new Error("no endpoint discovered");
  }

  // The registry lookup alone: what DiscoverService asks of it.
  const lookup = () => host.registry.routable(TARGET_TYPE, "").length === TARGET_PROVIDERS;
  const registryRate = checksPerCpuSecond(lookup, 1, REGISTRY_LOOKUPS);
  await host.close();
  return {
    p50: percentile(rpc, 50),
    p99: percentile(rpc, 99),
    registryNs: 1e9 / registryRate,
  };
}

const only = process.argv.indexOf("--subject");
if (only >= 0) {
  const [name, arg] = process.argv[only + 1].split(":");
  const result = await subjects[name](Number(arg));
  process.stdout.write(`${JSON.stringify(result)}\n`);
} else {
  const self = fileURLToPath(import.meta.url);
  const runs = [
    "tokenFloor",
    "tokenRead",
    "tokenStore",
    "tokenHost",
    "tokenHostHot",
    "grantHost",
    "semver",
    ...SIZES.map((n) => `discovery:${n}`),
  ];
  const results = Object.fromEntries(runs.map((name) => [name, []]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const name of runs) {
      const out = execFileSync(process.execPath, ["--expose-gc", self, "--subject", name], {
        encoding: "utf8",
        maxBuffer: 1 << 20,
      });
      results[name].push(JSON.parse(out.trim()));
    }
  }
  const rate = (name) => median(results[name]);
  const disc = (n, field) => median(results[`discovery:${n}`].map((r) => r[field]));

  const tokenRate = rate("tokenHost");
  const floor = rate("tokenFloor");
  const ratio = disc(10_000, "p50") / disc(10, "p50");
  const registryRatio = disc(10_000, "registryNs") / disc(10, "registryNs");
  const keys = `${KEYS.toLocaleString("en")} entries taken round-robin`;
  const rateMethod =
    `${keys}, ${VALIDATIONS.toLocaleString("en")} checks per round in a fresh process ` +
    `(ids and tokens presented as fresh string copies), per second of CPU time, median of ${ROUNDS} interleaved rounds`;
  const rpcMethod =
    `DiscoverService over host.createInMemoryTransport() (handshaken runtime, every host interceptor; rate limits off), ` +
    `${DISCOVERIES.toLocaleString("en")} sequential calls after 300 warm-up, wall time; each registry size in its own process; ` +
    `median of ${ROUNDS} rounds`;
  const registryMethod = `host.registry.routable(type), ${REGISTRY_LOOKUPS.toLocaleString("en")} calls, CPU time; same processes`;
  const us = (v) => `${v.toFixed(1)} µs`;
  const rows = [
    {
      name: "runtime token: host.identities.verify",
      value: `${formatRate(tokenRate)} (${formatRatio(tokenRate / floor)} of floor)`,
      target: ">= 8 M/s",
      met: tokenRate >= 8e6,
      method: rateMethod,
    },
    {
      name: "runtime token: host.identities.verify, one identity",
      value: formatRate(rate("tokenHostHot")),
      method: `one identity checked ${VALIDATIONS.toLocaleString("en")} times per round (a single token, as single-token benchmarks measure), fresh string copies, per second of CPU time, median of ${ROUNDS} rounds`,
    },
    {
      name: "runtime token: @cpg/auth memory store verify",
      value: `${formatRate(rate("tokenStore"))} (${formatRatio(rate("tokenStore") / floor)} of floor)`,
      method: rateMethod,
    },
    {
      name: "reference: Map lookup by id + expiry check (floor)",
      value: formatRate(floor),
      method: rateMethod,
    },
    {
      name: "reference: floor + reading the 43-char token, no compare",
      value: `${formatRate(rate("tokenRead"))} (${formatRatio(rate("tokenRead") / floor)} of floor)`,
      method: rateMethod,
    },
    {
      name: "capability grant: host.grants.verify",
      value: formatRate(rate("grantHost")),
      method: rateMethod,
    },
    {
      name: "semver: satisfiesMinVersion(version, min)",
      value: formatRate(rate("semver")),
      method: `8 version/min_version pairs (with prereleases) round-robin, ${MATCHES.toLocaleString("en")} matches per round, per second of CPU time, median of ${ROUNDS} rounds`,
    },
    ...SIZES.map((n) => ({
      name: `discovery RPC, ${n.toLocaleString("en")} other providers: p50 / p99`,
      value: `${us(disc(n, "p50"))} / ${us(disc(n, "p99"))}`,
      method: rpcMethod,
    })),
    {
      name: "discovery RPC p50, 10,000 vs 10 other providers",
      value: formatRatio(ratio),
      target: "<= 1.20x",
      met: ratio <= 1.2,
      method: rpcMethod,
    },
    ...SIZES.map((n) => ({
      name: `registry lookup, ${n.toLocaleString("en")} other providers`,
      value: `${disc(n, "registryNs").toFixed(0)} ns`,
      method: registryMethod,
    })),
    {
      name: "registry lookup, 10,000 vs 10 other providers",
      value: formatRatio(registryRatio),
      method: registryMethod,
    },
  ];
  report({
    section: "Micro: token and grant checks, semver, discovery (one core)",
    rows,
    results: {
      token_validations_per_s: Math.round(tokenRate),
      grant_validations_per_s: Math.round(rate("grantHost")),
      semver_matches_per_s: Math.round(rate("semver")),
      discovery_10k_vs_10_ratio: Number(ratio.toFixed(3)),
    },
    notes: [
      `Discovered type: ${TARGET_PROVIDERS} providers of ${TARGET_TYPE}; other providers register one type each, 100 per runtime.`,
      "Token checks look the presented token up in a map keyed by token (seeded hashing: the time does not depend on how many " +
        "leading characters are right), then compare the runtime id and the expiry; the clock is read once per event-loop run. " +
        `The references bound an in-memory check on this machine: ${formatRate(floor)} without looking at the token, ` +
        `${formatRate(rate("tokenRead"))} when JavaScript reads its characters once.`,
    ],
  });
}
