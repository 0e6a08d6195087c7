import * as http2 from "node:http2";
import { fileURLToPath } from "node:url";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import {
  grpcHealthV1,
  HandshakeService,
  HealthState,
  PluginLifecycle,
  ServiceRegistry,
  ServiceState,
  type WatchServiceEvent,
  WatchServiceEventSchema,
  WatchServiceRequestSchema,
} from "@cpg/protocol";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import type { Host } from "../host.js";
import type { HostOptions } from "../host-options.js";
import { startProcess, type TestProcess } from "../test-support/child-process.js";
import { handshakeRequest, runtimeHeaders, testHost } from "../test-support/test-host.js";
import {
  ALL_PROCEDURES,
  garbageCollector,
  rawCall,
  runtimeAuthHeaders,
  settledHeap,
} from "./support.js";

const memoryHostFixture = fileURLToPath(new URL("./fixtures/memory-host.mjs", import.meta.url));

// Denial of service: registration, watcher, oversized-message and handshake
// floods hit a configured limit (resource_exhausted), memory stays bounded,
// and a legitimate call made during the flood still succeeds.

let host: Host;
afterEach(() => host?.close());

async function listening(options: HostOptions) {
  host = testHost(options);
  const { url } = await host.listen();
  return url;
}

function authed(url: string, runtimeId: string, token: string, http2 = true): Transport {
  const headers = runtimeHeaders(runtimeId, token);
  return createConnectTransport({
    baseUrl: url,
    httpVersion: http2 ? "2" : "1.1",
    useBinaryFormat: true,
    interceptors: [
      (next) => (req) => {
        for (const [k, v] of headers) req.header.set(k, v);
        return next(req);
      },
    ],
  });
}

async function join(url: string, selfId: string) {
  const res = await createClient(
    HandshakeService,
    createConnectTransport({ baseUrl: url, httpVersion: "1.1" }),
  ).handshake(handshakeRequest({ selfId }));
  return {
    runtimeId: res.runtimeId,
    token: res.runtimeToken,
    transport: authed(url, res.runtimeId, res.runtimeToken),
  };
}

const codeOf = (e: unknown) => ConnectError.from(e).code;

function tally(results: PromiseSettledResult<unknown>[]) {
  let ok = 0;
  const errors: Record<string, number> = {};
  for (const r of results) {
    if (r.status === "fulfilled") ok++;
    else {
      const name = Code[codeOf(r.reason)];
      errors[name] = (errors[name] ?? 0) + 1;
    }
  }
  return { ok, errors };
}

/**
 * Opens one raw gRPC WatchService stream on `session` (as bench/suites/watch.mjs
 * does, cheap on the client side): `first` resolves with its first event.
 */
function openWatch(session: http2.ClientHttp2Session, headers: Record<string, string>) {
  const stream = session.request({
    ":method": "POST",
    ":path": "/connectplugin.v1.ServiceRegistry/WatchService",
    "content-type": "application/grpc+proto",
    te: "trailers",
    ...headers,
  });
  const body = toBinary(
    WatchServiceRequestSchema,
    create(WatchServiceRequestSchema, { serviceType: "kv" }),
  );
  const frame = Buffer.alloc(5 + body.length);
  frame.writeUInt32BE(body.length, 1);
  frame.set(body, 5);
  stream.end(frame);
  const first = new Promise<WatchServiceEvent>((resolve, reject) => {
    let buffered = Buffer.alloc(0);
    stream.on("data", (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      if (buffered.length < 5 || buffered.length < 5 + buffered.readUInt32BE(1)) return;
      resolve(
        fromBinary(WatchServiceEventSchema, buffered.subarray(5, 5 + buffered.readUInt32BE(1))),
      );
    });
    stream.on("trailers", (t) =>
      reject(new Error(`watch ended: ${t["grpc-status"]} ${t["grpc-message"]}`)),
    );
    stream.on("error", reject);
    stream.on("close", () => reject(new Error("watch closed before its first event")));
  });
  first.catch(() => {});
  const closed = new Promise((resolve) => stream.once("close", resolve));
  return { stream, first, closed };
}

describe("registration flood", () => {
  it("stops at maxRegistrationsPerRuntime and maxRegistrations with resource_exhausted; others still register and discover", async () => {
    const url = await listening({ maxRegistrationsPerRuntime: 25, maxRegistrations: 60 });
    const legit = await join(url, "legit");
    await createClient(ServiceRegistry, legit.transport).registerService({
      serviceType: "legit-type",
      version: "1.0.0",
      endpointPath: "/",
      metadata: { base_url: "http://127.0.0.1:9" },
    });
    const gc = garbageCollector();
    const heapBefore = await settledHeap(gc);
    const flooders = await Promise.all(["f1", "f2", "f3"].map((id) => join(url, id)));
    const perRuntime: { ok: number; errors: Record<string, number> }[] = [];
    for (const f of flooders) {
      const client = createClient(ServiceRegistry, f.transport);
      const results = await Promise.allSettled(
        Array.from({ length: 40 }, (_, i) =>
          client.registerService({
            serviceType: `flood-${f.runtimeId}-${i}`,
            version: "1.0.0",
            endpointPath: "/",
            metadata: { base_url: "http://127.0.0.1:9" },
          }),
        ),
      );
      perRuntime.push(tally(results));
    }
    const heapAfter = await settledHeap(gc);
    console.log(
      `[security-suite] registration flood: 3 runtimes x 40 attempts -> accepted ${perRuntime
        .map((t) => t.ok)
        .join("/")} (limits: 25 per runtime, 60 on the host), refused ${perRuntime
        .map((t) => JSON.stringify(t.errors))
        .join(
          " ",
        )}; registry size ${host.registry.serviceTypes().length}; heap delta ${((heapAfter - heapBefore) / 1024).toFixed(0)} KiB`,
    );
    expect(perRuntime.map((t) => t.ok)).toEqual([25, 25, 9]);
    expect(perRuntime.map((t) => t.errors)).toEqual([
      { ResourceExhausted: 15 },
      { ResourceExhausted: 15 },
      { ResourceExhausted: 31 },
    ]);
    expect(host.registry.serviceTypes()).toHaveLength(60); // legit-type + 59 flood types
    // The legitimate plugin still discovers and reports health.
    const found = await createClient(ServiceRegistry, legit.transport).discoverService({
      serviceType: "legit-type",
    });
    expect(found.endpoint?.providerId).toBe(legit.runtimeId);
    await createClient(PluginLifecycle, legit.transport).reportHealth({
      state: HealthState.HEALTHY,
    });
  });

  it("is rate limited per runtime (REG-HIGH-001, H-1): a flooding runtime gets resource_exhausted, another is unaffected", async () => {
    const url = await listening({ rateLimits: { api: { rate: 1, burst: 10 } } });
    const flooder = await join(url, "flooder");
    const legit = await join(url, "legit");
    const flood = createClient(ServiceRegistry, flooder.transport);
    const [results, legitResult] = await Promise.all([
      Promise.allSettled(
        Array.from({ length: 100 }, (_, i) =>
          flood.registerService({
            serviceType: `t${i}`,
            version: "1.0.0",
            endpointPath: "/",
            metadata: { base_url: "http://127.0.0.1:9" },
          }),
        ),
      ),
      createClient(ServiceRegistry, legit.transport).registerService({
        serviceType: "legit-type",
        version: "1.0.0",
        endpointPath: "/",
        metadata: { base_url: "http://127.0.0.1:9" },
      }),
    ]);
    const t = tally(results);
    console.log(
      `[security-suite] registration rate limit (rate 1/s, burst 10): 100 concurrent RegisterService -> ${t.ok} accepted, ${JSON.stringify(t.errors)}; concurrent legitimate registration ok`,
    );
    expect(t.ok).toBeGreaterThanOrEqual(10);
    expect(t.ok).toBeLessThanOrEqual(12);
    expect(t.errors).toEqual({ ResourceExhausted: 100 - t.ok });
    expect(legitResult.registrationId).not.toBe("");
  });
});

describe("watcher flood (PROTO-HIGH-005)", () => {
  // The host runs in its own process so that its memory is measured without
  // the client's HTTP/2 state; killed in afterAll, even when a round fails.
  let child: TestProcess | undefined;
  const sessions = new Set<http2.ClientHttp2Session>();
  afterAll(async () => {
    for (const s of sessions) s.destroy();
    child?.kill();
    await child?.exited;
  });

  it("keeps host memory bounded over 4 rounds of 500 cancelled WatchService streams over HTTP/2; a legitimate call still succeeds", async () => {
    child = startProcess(
      process.execPath,
      ["--expose-gc", memoryHostFixture],
      { CONNECTPLUGIN_DISABLE_TLS_WARNING: "1" },
      { stdin: "pipe" },
    );
    const proc = child;
    const { url } = JSON.parse(await proc.waitForLine((l) => l.includes('"listening"'))) as {
      url: string;
    };
    let lastId = 0;
    const memory = async (maxSockets?: number) => {
      const id = ++lastId;
      proc.child.stdin!.write(`${JSON.stringify({ cmd: "memory", id, maxSockets })}\n`);
      const line = await proc.waitForLine((l) => l.startsWith(`{"event":"memory","id":${id},`));
      const m = JSON.parse(line) as { sockets: number; heapUsed: number; external: number };
      return { sockets: m.sockets, total: m.heapUsed + m.external };
    };
    // One HTTP/2 connection for the unary calls, kept open throughout.
    const transport = createGrpcTransport({ baseUrl: url });
    const joinAs = async (selfId: string) => {
      const res = await createClient(HandshakeService, transport).handshake(
        handshakeRequest({ selfId }),
      );
      return {
        runtimeId: res.runtimeId,
        headers: runtimeAuthHeaders(res.runtimeId, res.runtimeToken),
      };
    };
    const registry = createClient(ServiceRegistry, transport);
    const provider = await joinAs("provider");
    await registry.registerService(
      {
        serviceType: "kv",
        version: "1.0.0",
        endpointPath: "/",
        metadata: { base_url: "http://127.0.0.1:9" },
      },
      { headers: provider.headers },
    );
    await createClient(PluginLifecycle, transport).reportHealth(
      { state: HealthState.HEALTHY },
      { headers: provider.headers },
    );
    const watcher = await joinAs("watcher");
    const legit = await joinAs("legit");
    const baseline = await memory();

    const ROUNDS = 4;
    const STREAMS = 500;
    const rounds: { open: number; closed: number }[] = [];
    let legitFound: string | undefined;
    for (let round = 1; round <= ROUNDS; round++) {
      const open = Array.from({ length: 5 }, () => {
        const s = http2.connect(url);
        s.on("error", () => {});
        sessions.add(s);
        return s;
      });
      const watches = Array.from({ length: STREAMS }, (_, i) =>
        openWatch(open[i % open.length]!, watcher.headers),
      );
      const firsts = await Promise.all(watches.map((w) => w.first));
      expect(firsts.every((e) => e.state === ServiceState.AVAILABLE)).toBe(true);
      if (round === ROUNDS) {
        // While the last round's streams are open: a legitimate plugin registers and discovers.
        await registry.registerService(
          {
            serviceType: "legit-type",
            version: "1.0.0",
            endpointPath: "/",
            metadata: { base_url: "http://127.0.0.1:9" },
          },
          { headers: legit.headers },
        );
        const found = await registry.discoverService(
          { serviceType: "legit-type" },
          { headers: legit.headers },
        );
        legitFound = found.endpoint?.providerId;
      }
      const whileOpen = await memory();
      for (const w of watches) w.stream.close(http2.constants.NGHTTP2_CANCEL);
      await Promise.all(watches.map((w) => w.closed));
      await Promise.all(open.map((s) => new Promise((resolve) => s.close(() => resolve(null)))));
      for (const s of open) sessions.delete(s);
      // Measured once the host has seen the connections close.
      const closed = await memory(baseline.sockets);
      expect(closed.sockets).toBeLessThanOrEqual(baseline.sockets);
      rounds.push({ open: whileOpen.total, closed: closed.total });
    }
    const kib = (bytes: number) => `${bytes >= 0 ? "+" : ""}${(bytes / 1024).toFixed(0)} KiB`;
    // Memory before each round: the baseline, then the end of the previous round.
    const before = (i: number) => (i === 0 ? baseline.total : rounds[i - 1]!.closed);
    const opened = rounds.map((r, i) => r.open - before(i));
    const retained = rounds.map((r, i) => r.closed - before(i));
    const perStream = Math.max(...opened) / STREAMS;
    const growth = rounds[ROUNDS - 1]!.closed - rounds[0]!.closed;
    console.log(
      `[security-suite] watcher flood: ${ROUNDS} rounds of ${STREAMS} WatchService streams (gRPC, 5 HTTP/2 connections) opened, each to its first event, then cancelled (RST_STREAM CANCEL); host in its own process, heapUsed+external after 3 forced GCs: while open ${opened.map(kib).join(", ")} (at most ${(perStream / 1024).toFixed(1)} KiB per open stream); after cancelling, vs before the round: ${retained.map(kib).join(", ")}; rounds 2-${ROUNDS} together ${kib(growth)}; register+discover during round ${ROUNDS} ok`,
    );
    expect(legitFound).toBe(legit.runtimeId);
    expect(perStream).toBeLessThan(64 * 1024);
    // 1,500 retained streams at ~17 KiB would be 25 MiB.
    expect(growth).toBeLessThan(4 * 1024 * 1024);
  }, 60_000);

  it("gives a runtime its whole stream budget back once its streams are cancelled; watchers see a new provider", async () => {
    // Default rate limits: 64 concurrent streams per runtime.
    const url = await listening({ rateLimits: {} });
    const runtime = await join(url, "watcher");
    const legit = await join(url, "legit");
    const open = (signal: AbortSignal) =>
      createClient(ServiceRegistry, runtime.transport)
        .watchService({ serviceType: "kv" }, { signal })
        [Symbol.asyncIterator]();
    const abort = new AbortController();
    const streams = Array.from({ length: 64 }, () => open(abort.signal));
    expect((await Promise.all(streams.map((s) => s.next()))).every((r) => !r.done)).toBe(true);
    // While the runtime's 64 streams are open: a legitimate plugin registers, and they see it.
    await createClient(ServiceRegistry, legit.transport).registerService({
      serviceType: "kv",
      version: "1.0.0",
      endpointPath: "/",
      metadata: { base_url: "http://127.0.0.1:9" },
    });
    const seen = await Promise.all(streams.map((s) => s.next()));
    expect(seen.every((r) => !r.done && r.value.endpoint?.providerId === legit.runtimeId)).toBe(
      true,
    );
    abort.abort();
    await Promise.allSettled(streams.map((s) => s.return?.()));
    // Retried until the host has seen the cancellations (deadline 5 s).
    const reopen = new AbortController();
    const deadline = performance.now() + 5000;
    let reopened = 0;
    while (reopened < 64 && performance.now() < deadline) {
      const r = await Promise.allSettled(
        Array.from({ length: 64 - reopened }, () => open(reopen.signal).next()),
      );
      reopened += r.filter((x) => x.status === "fulfilled").length;
      if (reopened < 64) await new Promise((resolve) => setImmediate(resolve));
    }
    reopen.abort();
    console.log(
      `[security-suite] stream budget: 64 WatchService streams opened and cancelled, then ${reopened}/64 reopened`,
    );
    expect(reopened).toBe(64);
  });

  it("refuses the 65th concurrent WatchService stream of one runtime with resource_exhausted", async () => {
    const url = await listening({ rateLimits: {} });
    const r = await join(url, "greedy");
    const other = await join(url, "other");
    const abort = new AbortController();
    const open = (transport: Transport) =>
      createClient(ServiceRegistry, transport)
        .watchService({ serviceType: "kv" }, { signal: abort.signal })
        [Symbol.asyncIterator]()
        .next();
    const results = await Promise.allSettled(Array.from({ length: 80 }, () => open(r.transport)));
    const t = tally(results);
    const otherFirst = await open(other.transport);
    console.log(
      `[security-suite] stream cap: 80 concurrent WatchService from one runtime -> ${t.ok} open, ${JSON.stringify(t.errors)}; another runtime still opens one`,
    );
    abort.abort();
    expect(t.ok).toBe(64);
    expect(t.errors).toEqual({ ResourceExhausted: 16 });
    expect(otherFirst.done).toBe(false);
  });

  it("caps unauthenticated health Watch streams per client IP", async () => {
    const url = await listening({ rateLimits: {} });
    const transport = createGrpcTransport({ baseUrl: url });
    const abort = new AbortController();
    const results = await Promise.allSettled(
      Array.from({ length: 80 }, () =>
        createClient(grpcHealthV1.Health, transport)
          .watch({ service: "" }, { signal: abort.signal })
          [Symbol.asyncIterator]()
          .next(),
      ),
    );
    const t = tally(results);
    console.log(
      `[security-suite] anonymous grpc.health.v1.Health/Watch flood: 80 -> ${t.ok} open, ${JSON.stringify(t.errors)}`,
    );
    abort.abort();
    expect(t.ok).toBe(64);
    expect(t.errors).toEqual({ ResourceExhausted: 16 });
  });
});

describe("oversized messages", () => {
  it("are refused with resource_exhausted on every host procedure (readMaxBytes), while a legitimate call succeeds", async () => {
    const url = await listening({ readMaxBytes: 64 * 1024 });
    const legit = await join(url, "legit");
    const big = new Uint8Array(1024 * 1024).fill(0x41);
    // A field-1 string of 1 MiB: well-formed protobuf, just too big.
    const wellFormed = new Uint8Array([0x0a, 0x80, 0x80, 0x40, ...big]);
    const results: Record<string, string> = {};
    const expected: Record<string, string> = {};
    for (const proc of ALL_PROCEDURES) {
      for (const who of ["anonymous", "authenticated"]) {
        // A stream is authenticated before its body is read: anonymous callers
        // are refused before the host reads a byte of it.
        expected[`${proc.method} (${who})`] =
          proc.streaming &&
          who === "anonymous" &&
          proc.service !== "connectplugin.v1.HandshakeService"
            ? "unauthenticated"
            : "resource_exhausted";
      }
    }
    const [codes, legitRes] = await Promise.all([
      Promise.all(
        ALL_PROCEDURES.flatMap((proc) =>
          [
            ["anonymous", {}],
            ["authenticated", runtimeAuthHeaders(legit.runtimeId, legit.token)],
          ].map(async ([who, headers]) => {
            const r = await rawCall(url, proc, wellFormed, headers as Record<string, string>);
            results[`${proc.method} (${who})`] = r.code;
            return r.code;
          }),
        ),
      ),
      createClient(PluginLifecycle, legit.transport).reportHealth({ state: HealthState.HEALTHY }),
    ]);
    console.log(
      `[security-suite] oversized: ${codes.length} calls of 1 MiB against readMaxBytes 64 KiB -> ${JSON.stringify(
        Object.entries(results).reduce<Record<string, number>>((acc, [, c]) => {
          acc[c] = (acc[c] ?? 0) + 1;
          return acc;
        }, {}),
      )}`,
    );
    expect(legitRes).toBeDefined();
    expect(results).toEqual(expected);
  });
});

describe("handshake flood", () => {
  it("is rate limited per client IP with resource_exhausted; an authenticated plugin keeps working", async () => {
    // Default budgets: 5 handshakes/s, burst 20.
    const url = await listening({ rateLimits: {} });
    const legit = await join(url, "legit");
    const hs = createClient(
      HandshakeService,
      createConnectTransport({ baseUrl: url, httpVersion: "2", useBinaryFormat: true }),
    );
    const started = performance.now();
    const [results, legitResults] = await Promise.all([
      Promise.allSettled(
        Array.from({ length: 300 }, (_, i) =>
          hs.handshake(handshakeRequest({ selfId: `flood-${i}` })),
        ),
      ),
      Promise.all([
        createClient(PluginLifecycle, legit.transport).reportHealth({ state: HealthState.HEALTHY }),
        createClient(ServiceRegistry, legit.transport).registerService({
          serviceType: "kv",
          version: "1.0.0",
          endpointPath: "/",
          metadata: { base_url: "http://127.0.0.1:9" },
        }),
      ]),
    ]);
    const elapsed = (performance.now() - started) / 1000;
    const t = tally(results);
    console.log(
      `[security-suite] handshake flood: 300 concurrent handshakes from one IP in ${elapsed.toFixed(2)} s -> ${t.ok} accepted, ${JSON.stringify(t.errors)}; identities alive: ${host.identities.size}`,
    );
    expect(t.ok).toBeGreaterThanOrEqual(20);
    expect(t.ok).toBeLessThanOrEqual(20 + Math.ceil(5 * elapsed) + 1);
    expect(t.errors).toEqual({ ResourceExhausted: 300 - t.ok });
    expect(legitResults).toHaveLength(2);
  }, 60_000);
});
