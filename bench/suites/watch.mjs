// Scale: 10,000 concurrent WatchService streams on one host.
//
// The host runs in its own process (this file with --role host); this process
// opens the streams over raw node:http2 client sessions (cheap on the client
// side), asks the host for its memory after a forced GC before and after
// opening them, then flips the watched provider to UNHEALTHY and times until
// every stream has received the resulting UNAVAILABLE event.
//
//   node bench/run.mjs watch        BENCH_WATCH_STREAMS overrides 10,000
import { fork } from "node:child_process";
import { writeFileSync } from "node:fs";
import * as http2 from "node:http2";
import * as inspector from "node:inspector";
import { fileURLToPath } from "node:url";
import * as v8 from "node:v8";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { createHost } from "@cpg/host";
import {
  bearer,
  CORE_PROTOCOL_VERSION,
  HandshakeService,
  HealthState,
  MAGIC_COOKIE_KEY,
  MAGIC_COOKIE_VALUE,
  PluginLifecycle,
  RUNTIME_ID_HEADER,
  ServiceRegistry,
  ServiceState,
  WatchServiceEventSchema,
  WatchServiceRequestSchema,
} from "@cpg/protocol";
import { report } from "../lib/report.mjs";
import { formatRatio } from "../lib/stats.mjs";

const STREAMS = Number(process.env.BENCH_WATCH_STREAMS ?? 10_000);
const SESSIONS = 20;
const WATCHED_TYPE = "bench.watch.v1.Watched";
// Decoded watch events by their frame bytes (see isUnavailable).
const decoded = new Map();

if (process.argv.includes("--role")) {
  await runHost();
} else {
  await runBench();
}

async function runHost() {
  const host = createHost({
    profile: "development",
    logger: { debug() {}, info() {}, warn() {}, error() {} },
    rateLimits: {
      handshake: { rate: 1e6, burst: 1e6 },
      api: { rate: 1e6, burst: 1e6 },
      maxConcurrentStreams: 1e6,
    },
  });
  const { url } = await host.listen();
  // Never outlive the bench that started this host.
  process.on("disconnect", () => process.exit(0));
  let session;
  process.on("message", (message) => {
    if (message === "memory") {
      for (let i = 0; i < 3; i++) globalThis.gc?.();
      const m = process.memoryUsage();
      process.send({ memory: { rss: m.rss, heapUsed: m.heapUsed, external: m.external } });
    } else if (message === "snapshot") {
      globalThis.gc?.();
      process.send({ snapshot: v8.writeHeapSnapshot(process.env.BENCH_HOST_SNAPSHOT) });
    } else if (message === "profile-start") {
      session ??= new inspector.Session();
      session.connect();
      session.post("Profiler.enable", () =>
        session.post("Profiler.start", () => process.send({ profiling: true })),
      );
    } else if (message === "profile-stop") {
      session.post("Profiler.stop", (_err, { profile }) => {
        writeFileSync(process.env.BENCH_HOST_PROF_FILE, JSON.stringify(profile));
        process.send({ profiled: true });
      });
    } else if (message === "close") {
      host.close().then(() => process.exit(0));
    }
  });
  process.send({ url });
}

async function runBench() {
  const child = fork(fileURLToPath(import.meta.url), ["--role", "host"], {
    execArgv: ["--expose-gc"],
  });
  const replies = [];
  let waiting;
  child.on("message", (m) => {
    replies.push(m);
    waiting?.();
  });
  const next = async () => {
    while (replies.length === 0) await new Promise((r) => (waiting = r));
    waiting = undefined;
    return replies.shift();
  };
  const memory = async () => {
    child.send("memory");
    return (await next()).memory;
  };
  const { url } = await next();
  try {
    const transport = createGrpcTransport({ baseUrl: url });
    const provider = await join(transport, "bench-provider");
    await createClient(ServiceRegistry, transport).registerService(
      {
        serviceType: WATCHED_TYPE,
        version: "1.0.0",
        endpointPath: "/",
        metadata: { base_url: "http://127.0.0.1:9" },
      },
      { headers: provider.headers },
    );
    const lifecycle = createClient(PluginLifecycle, transport);
    await lifecycle.reportHealth({ state: HealthState.HEALTHY }, { headers: provider.headers });
    const watcher = await join(transport, "bench-watcher");

    const before = await memory();
    const sessions = Array.from({ length: SESSIONS }, () => http2.connect(url));
    const streams = [];
    const opened = [];
    for (let i = 0; i < STREAMS; i++) {
      const w = openWatch(sessions[i % SESSIONS], watcher);
      streams.push(w);
      opened.push(w.first);
      if (i % 500 === 499) await Promise.all(opened.slice(-500));
    }
    await Promise.all(opened);
    const after = await memory();
    if (process.env.BENCH_HOST_SNAPSHOT) {
      child.send("snapshot");
      await next();
    }
    const heapPerStream =
      (after.heapUsed + after.external - before.heapUsed - before.external) / STREAMS;
    const rssPerStream = (after.rss - before.rss) / STREAMS;

    if (process.env.BENCH_HOST_PROF_FILE) {
      child.send("profile-start");
      await next();
    }
    const started = performance.now();
    await lifecycle.reportHealth(
      { state: HealthState.UNHEALTHY, reason: "bench" },
      { headers: provider.headers },
    );
    const ack = performance.now();
    await Promise.all(streams.map((w) => w.unavailable));
    const fanoutMs = performance.now() - started;
    if (process.env.BENCH_HOST_PROF_FILE) {
      child.send("profile-stop");
      await next();
    }

    for (const w of streams) w.stream.close(http2.constants.NGHTTP2_CANCEL);
    await Promise.all(streams.map((w) => w.closed));
    for (const s of sessions) s.close();
    await new Promise((r) => setTimeout(r, 200));
    const closed = await memory();
    const retained = closed.heapUsed + closed.external - before.heapUsed - before.external;
    // More rounds of the same: what the first left behind was warm-up
    // (compiled code, caches) if the later ones leave nothing more.
    const growth = [];
    let last = closed;
    for (let round = 0; round < 3; round++) {
      await openAndCancel(url, watcher, STREAMS);
      await new Promise((r) => setTimeout(r, 200));
      const m = await memory();
      growth.push(m.heapUsed + m.external - last.heapUsed - last.external);
      last = m;
    }
    const method =
      `${STREAMS.toLocaleString("en")} WatchService streams over ${SESSIONS} HTTP/2 connections (gRPC) to a host in ` +
      "its own process; memory: host heapUsed+external after 3 forced GCs, before and after opening, divided by the streams";
    report({
      section: `Scale: ${STREAMS.toLocaleString("en")} concurrent WatchService streams on one host`,
      rows: [
        {
          name: "host memory per open watch stream (heap + external)",
          value: `${(heapPerStream / 1024).toFixed(1)} KiB`,
          target: "< 20 KiB",
          met: heapPerStream < 20 * 1024,
          method,
        },
        {
          name: "host RSS growth per open watch stream",
          value: `${(rssPerStream / 1024).toFixed(1)} KiB`,
          method,
        },
        {
          name: "host memory retained after all streams are cancelled",
          value: `${(retained / 1024).toFixed(0)} KiB, then ${growth.map((g) => `${g >= 0 ? "+" : ""}${(g / 1024).toFixed(0)}`).join(", ")} KiB over 3 more rounds`,
          method:
            "heapUsed+external after cancelling every stream (RST_STREAM CANCEL), closing the connections and 3 forced GCs, " +
            "minus the baseline; then the change over each further round of opening and cancelling as many streams",
        },
        {
          name: "one change delivered to every stream",
          value: `${fanoutMs.toFixed(0)} ms`,
          target: "<= 250 ms",
          met: fanoutMs <= 250,
          method:
            "time from sending ReportHealth(UNHEALTHY) for the only provider until every stream has received " +
            `UNAVAILABLE (the ReportHealth reply itself came after ${(ack - started).toFixed(0)} ms)`,
        },
      ],
      results: {
        watch_bytes_per_stream: Math.round(heapPerStream),
        watch_fanout_10k_ms: Number(fanoutMs.toFixed(1)),
      },
      notes: [`heap+external growth vs RSS growth: ${formatRatio(heapPerStream / rssPerStream)}`],
    });
  } finally {
    child.send("close");
  }
}

/** Opens `count` watch streams, waits for their first event, cancels them all. */
async function openAndCancel(url, identity, count) {
  const sessions = Array.from({ length: SESSIONS }, () => http2.connect(url));
  const streams = [];
  for (let i = 0; i < count; i += 500) {
    const batch = Array.from({ length: Math.min(500, count - i) }, (_, j) =>
      openWatch(sessions[(i + j) % SESSIONS], identity),
    );
    await Promise.all(batch.map((w) => w.first));
    streams.push(...batch);
  }
  for (const w of streams) w.stream.close(http2.constants.NGHTTP2_CANCEL);
  await Promise.all(streams.map((w) => w.closed));
  for (const s of sessions) s.close();
  return streams.length;
}

async function join(transport, selfId) {
  const res = await createClient(HandshakeService, transport).handshake({
    coreProtocolVersion: CORE_PROTOCOL_VERSION,
    appProtocolVersion: 1,
    magicCookieKey: MAGIC_COOKIE_KEY,
    magicCookieValue: MAGIC_COOKIE_VALUE,
    selfId,
    selfVersion: "1.0.0",
  });
  const headers = { [RUNTIME_ID_HEADER]: res.runtimeId, authorization: bearer(res.runtimeToken) };
  return { headers };
}

// Every watcher gets the same bytes for the same event: decode a frame once,
// then recognise it by its bytes, so the client's own work stays small next
// to the host's.
function isUnavailable(frame) {
  const key = frame.toString("latin1");
  let unavailable = decoded.get(key);
  if (unavailable === undefined) {
    const event = fromBinary(WatchServiceEventSchema, frame.subarray(5));
    unavailable = event.state === ServiceState.UNAVAILABLE;
    if (decoded.size < 64) decoded.set(key, unavailable);
  }
  return unavailable;
}

/** Opens one raw gRPC WatchService stream; resolves `first` and `unavailable`. */
function openWatch(session, identity) {
  const stream = session.request({
    ":method": "POST",
    ":path": "/connectplugin.v1.ServiceRegistry/WatchService",
    "content-type": "application/grpc+proto",
    te: "trailers",
    ...identity.headers,
  });
  const body = toBinary(
    WatchServiceRequestSchema,
    create(WatchServiceRequestSchema, { serviceType: WATCHED_TYPE }),
  );
  const frame = Buffer.alloc(5 + body.length);
  frame.writeUInt32BE(body.length, 1);
  frame.set(body, 5);
  stream.end(frame);
  let buffered = Buffer.alloc(0);
  let onFirst;
  let onUnavailable;
  let fail;
  const first = new Promise((resolve, reject) => {
    onFirst = resolve;
    fail = reject;
  });
  const unavailable = new Promise((resolve) => (onUnavailable = resolve));
  stream.on("data", (chunk) => {
    buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
    while (buffered.length >= 5) {
      const length = buffered.readUInt32BE(1);
      if (buffered.length < 5 + length) break;
      const frame = buffered.subarray(0, 5 + length);
      buffered = buffered.subarray(5 + length);
      onFirst();
      if (isUnavailable(frame)) onUnavailable();
    }
  });
  stream.on("trailers", (t) => {
    if (t["grpc-status"] !== "0")
      fail(new Error(`watch ended: ${t["grpc-status"]} ${t["grpc-message"]}`));
  });
  stream.on("error", (e) => fail(e));
  const closed = new Promise((resolve) => stream.once("close", resolve));
  return { stream, first, unavailable, closed };
}
