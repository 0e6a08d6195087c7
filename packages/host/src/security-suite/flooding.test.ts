import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import {
  grpcHealthV1,
  HandshakeService,
  HealthState,
  PluginLifecycle,
  ServiceRegistry,
} from "@cpg/protocol";
import { afterEach, describe, expect, it } from "vitest";
import type { Host } from "../host.js";
import type { HostOptions } from "../host-options.js";
import { handshakeRequest, runtimeHeaders, testHost } from "../test-support/test-host.js";
import {
  ALL_PROCEDURES,
  garbageCollector,
  rawCall,
  runtimeAuthHeaders,
  settledHeap,
} from "./support.js";

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
  it("holds 500 WatchService streams over HTTP/2 with bounded memory; a legitimate call still succeeds", async () => {
    // Default rate limits: 64 concurrent streams and 200 burst per runtime.
    const url = await listening({ rateLimits: {} });
    const gc = garbageCollector();
    const runtimes = await Promise.all(
      Array.from({ length: 10 }, (_, i) => join(url, `watcher-${i}`)),
    );
    const legit = await join(url, "legit");
    // Warm up one stream per transport so sessions and code paths exist before measuring.
    const abort = new AbortController();
    const open = async (transport: Transport) => {
      const it = createClient(ServiceRegistry, transport)
        .watchService({ serviceType: "kv" }, { signal: abort.signal })
        [Symbol.asyncIterator]();
      const first = await it.next();
      expect(first.done).toBe(false);
      return it;
    };
    const warm = await Promise.all(runtimes.map((r) => open(r.transport)));
    const heapBefore = await settledHeap(gc);
    const streams = [...warm];
    const openStarted = performance.now();
    for (const r of runtimes) {
      streams.push(...(await Promise.all(Array.from({ length: 49 }, () => open(r.transport)))));
    }
    const openMs = performance.now() - openStarted;
    expect(streams).toHaveLength(500);
    const heapOpen = await settledHeap(gc);
    const perStream = (heapOpen - heapBefore) / 490;

    // While 500 streams are open: a legitimate plugin registers, and watchers see it.
    const started = performance.now();
    await createClient(ServiceRegistry, legit.transport).registerService({
      serviceType: "kv",
      version: "1.0.0",
      endpointPath: "/",
      metadata: { base_url: "http://127.0.0.1:9" },
    });
    const found = await createClient(ServiceRegistry, legit.transport).discoverService({
      serviceType: "kv",
    });
    const legitMs = performance.now() - started;
    expect(found.endpoint?.providerId).toBe(legit.runtimeId);
    const seen = await Promise.all(streams.slice(0, 20).map((s) => s.next()));
    expect(seen.every((r) => !r.done && r.value.endpoint?.providerId === legit.runtimeId)).toBe(
      true,
    );

    abort.abort();
    await Promise.allSettled(streams.map((s) => s.return?.()));
    const heapClosed = await settledHeap(gc);
    // The host released the streams: the runtimes' stream budgets are whole again
    // (each may open 64 at once; retried until the host has seen the cancellations).
    const reopen = new AbortController();
    const deadline = performance.now() + 5000;
    let reopened = 0;
    while (reopened < 64 && performance.now() < deadline) {
      const r = await Promise.allSettled(
        Array.from({ length: 64 - reopened }, () =>
          createClient(ServiceRegistry, runtimes[0]!.transport)
            .watchService({ serviceType: "kv" }, { signal: reopen.signal })
            [Symbol.asyncIterator]()
            .next(),
        ),
      );
      reopened += r.filter((x) => x.status === "fulfilled").length;
      if (reopened < 64) await new Promise((resolve) => setImmediate(resolve));
    }
    reopen.abort();

    // A second flood of 441 streams (runtime 0 still holds its 64 reopened
    // ones), opened and cancelled: memory left behind does not accumulate
    // from flood to flood.
    const again = new AbortController();
    const second: AsyncIterator<unknown>[] = [];
    for (const r of runtimes.slice(1)) {
      second.push(
        ...(await Promise.all(
          Array.from({ length: 49 }, async () => {
            const it = createClient(ServiceRegistry, r.transport)
              .watchService({ serviceType: "kv" }, { signal: again.signal })
              [Symbol.asyncIterator]();
            expect((await it.next()).done).toBe(false);
            return it;
          }),
        )),
      );
    }
    again.abort();
    await Promise.allSettled(second.map((s) => s.return?.()));
    const heapClosedAgain = await settledHeap(gc);
    console.log(
      `[security-suite] watcher flood, second round of 441 streams opened and cancelled: heap ${((heapClosedAgain - heapClosed) / 1024).toFixed(0)} KiB vs after the first round`,
    );
    console.log(
      `[security-suite] watcher flood: 500 WatchService streams over HTTP/2 (10 runtimes x 50) opened in ${openMs.toFixed(0)} ms: heap +${((heapOpen - heapBefore) / 1024).toFixed(0)} KiB while open = ${(perStream / 1024).toFixed(1)} KiB per stream (client and host in one process, so an upper bound for the host); register+discover during the flood ${legitMs.toFixed(1)} ms; heap after cancelling them +${((heapClosed - heapBefore) / 1024).toFixed(0)} KiB; one runtime reopened ${reopened}/64 streams afterwards`,
    );
    expect(perStream).toBeLessThan(128 * 1024);
    expect(heapClosed).toBeLessThan(heapOpen);
    expect(reopened).toBe(64);
    // Reported, not root-caused: each cancelled WatchService stream leaves some
    // memory behind (about 1.6 KiB per stream in memory, linear over 2,000
    // streams; more over HTTP/2 with client and host in one process). This
    // bound only checks it stays well below what open streams cost.
    expect(heapClosedAgain - heapClosed).toBeLessThan(heapOpen - heapBefore);
  }, 90_000);

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
