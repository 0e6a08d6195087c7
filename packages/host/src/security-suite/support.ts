import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { Code } from "@connectrpc/connect";
import { API_KEY_HEADER, bearer, RUNTIME_ID_HEADER } from "@cpg/protocol";

/**
 * Helpers of the security suite: raw Connect calls over HTTP (so tests can
 * send any bytes and any headers), a seeded PRNG, and a garbage collector.
 */

/** One host procedure, as the wire names it. */
export interface Procedure {
  readonly service: string;
  readonly method: string;
  readonly streaming: boolean;
}

const p = (service: string, method: string, streaming = false): Procedure => ({
  service,
  method,
  streaming,
});

/** Procedures that need a runtime identity (plugins). */
export const PLUGIN_PROCEDURES: readonly Procedure[] = [
  p("connectplugin.v1.ServiceRegistry", "RegisterService"),
  p("connectplugin.v1.ServiceRegistry", "UnregisterService"),
  p("connectplugin.v1.ServiceRegistry", "DiscoverService"),
  p("connectplugin.v1.ServiceRegistry", "WatchService", true),
  p("connectplugin.v1.PluginLifecycle", "ReportHealth"),
  p("connectplugin.v1.CapabilityBroker", "RequestCapability"),
];

/** Procedures of the admin API (operators only). */
export const ADMIN_PROCEDURES: readonly Procedure[] = [
  p("cpg.admin.v1.AdminService", "ListPlugins"),
  p("cpg.admin.v1.AdminService", "ListServices"),
  p("cpg.admin.v1.AdminService", "ListGrants"),
  p("cpg.admin.v1.AdminService", "WatchEvents", true),
  p("cpg.admin.v1.AdminService", "AddPlugin"),
  p("cpg.admin.v1.AdminService", "RemovePlugin"),
  p("cpg.admin.v1.AdminService", "ReplacePlugin"),
  p("cpg.admin.v1.AdminService", "RevokeGrant"),
];

/** Every host procedure a remote caller can reach. */
export const ALL_PROCEDURES: readonly Procedure[] = [
  p("connectplugin.v1.HandshakeService", "Handshake"),
  ...PLUGIN_PROCEDURES,
  ...ADMIN_PROCEDURES,
];

/** The outcome of a raw call: `"ok"` or the Connect error code name, and how long it took. */
export interface RawResult {
  readonly code: string;
  readonly message: string;
  readonly ms: number;
}

/** Connect's name of a code, e.g. `Code.NotFound` -> `"not_found"`. */
export function codeName(code: Code): string {
  return Code[code].replace(/([a-z])([A-Z])/g, "$1_$2").toLowerCase();
}

function envelope(flags: number, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(5 + data.length);
  out[0] = flags;
  new DataView(out.buffer).setUint32(1, data.length);
  out.set(data, 5);
  return out;
}

/**
 * Calls a procedure with a raw binary body over HTTP/1.1 (Connect protocol,
 * `application/proto` for unary, `application/connect+proto` for server
 * streams). A server stream counts as `"ok"` once its first message arrives
 * (then the call is cancelled). Fails the test (throws) if there is no
 * answer within `deadlineMs`.
 */
export async function rawCall(
  baseUrl: string,
  proc: Procedure,
  body: Uint8Array,
  headers: Record<string, string> = {},
  deadlineMs = 5000,
  pathPrefix = "",
  /** A server stream that is open (200) but sends nothing for this long counts as `"open"`. */
  streamIdleMs = Number.POSITIVE_INFINITY,
): Promise<RawResult> {
  const started = performance.now();
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(new Error("deadline")), deadlineMs);
  try {
    const pending = fetch(`${baseUrl}${pathPrefix}/${proc.service}/${proc.method}`, {
      method: "POST",
      headers: {
        "content-type": proc.streaming ? "application/connect+proto" : "application/proto",
        "connect-protocol-version": "1",
        ...headers,
      },
      body: proc.streaming ? envelope(0, body) : body,
      signal: abort.signal,
    });
    // connect-node sends a server stream's headers with its first message: a
    // stream with nothing to say yet (e.g. AdminService.WatchEvents without
    // backlog) answers nothing at all until then.
    let headerIdle: ReturnType<typeof setTimeout> | undefined;
    const first = await Promise.race([
      pending,
      new Promise<"idle">((resolve) => {
        if (proc.streaming && Number.isFinite(streamIdleMs))
          headerIdle = setTimeout(() => resolve("idle"), streamIdleMs);
      }),
    ]);
    clearTimeout(headerIdle);
    const done = (code: string, message = "") => ({
      code,
      message,
      ms: performance.now() - started,
    });
    if (first === "idle") {
      abort.abort();
      pending.catch(() => {});
      return done("open");
    }
    const res = first;
    if (!proc.streaming || res.status !== 200) {
      if (res.status === 200) {
        await res.arrayBuffer();
        return done("ok");
      }
      const text = await res.text();
      try {
        const json = JSON.parse(text) as { code?: string; message?: string };
        return done(json.code ?? `http_${res.status}`, json.message ?? "");
      } catch {
        return done(`http_${res.status}`, text.slice(0, 200));
      }
    }
    // Server stream: read envelopes until a message or the end-of-stream.
    const reader = res.body!.getReader();
    let buf = new Uint8Array(0);
    for (;;) {
      while (buf.length >= 5) {
        const len = new DataView(buf.buffer, buf.byteOffset).getUint32(1);
        if (buf.length < 5 + len) break;
        const flags = buf[0]!;
        const data = buf.subarray(5, 5 + len);
        buf = buf.subarray(5 + len);
        if ((flags & 0x02) === 0) {
          abort.abort();
          return done("ok");
        }
        const end = JSON.parse(new TextDecoder().decode(data)) as {
          error?: { code: string; message?: string };
        };
        return done(end.error?.code ?? "ok", end.error?.message ?? "");
      }
      let idle: ReturnType<typeof setTimeout> | undefined;
      const read = await Promise.race([
        reader.read(),
        new Promise<"idle">((resolve) => {
          if (Number.isFinite(streamIdleMs)) idle = setTimeout(() => resolve("idle"), streamIdleMs);
        }),
      ]);
      clearTimeout(idle);
      if (read === "idle") {
        abort.abort();
        return done("open");
      }
      const { value, done: eof } = read;
      if (eof) return done("stream_ended_without_end_message");
      const next = new Uint8Array(buf.length + value.length);
      next.set(buf);
      next.set(value, buf.length);
      buf = next;
    }
  } catch (error) {
    if (abort.signal.aborted && abort.signal.reason instanceof Error) {
      throw new Error(`${proc.service}/${proc.method} did not answer within ${deadlineMs} ms`);
    }
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

/** Header sets of the authentication bypass matrix. */
export function runtimeAuthHeaders(runtimeId: string, token: string): Record<string, string> {
  return { [RUNTIME_ID_HEADER]: runtimeId, authorization: bearer(token) };
}

/** Operator credentials. */
export function apiKeyHeaders(key: string): Record<string, string> {
  return { [API_KEY_HEADER]: key };
}

/** mulberry32: a small seeded PRNG, so every fuzz run is reproducible. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Random bytes of a random length up to `max`. */
export function randomBytesOf(rand: () => number, max: number): Uint8Array {
  const out = new Uint8Array(Math.floor(rand() * (max + 1)));
  for (let i = 0; i < out.length; i++) out[i] = Math.floor(rand() * 256);
  return out;
}

/** A mutation of `seed`: bit flips, truncation, insertion, duplication or a length-byte change. */
export function mutate(rand: () => number, seed: Uint8Array): Uint8Array {
  const bytes = [...seed];
  const rounds = 1 + Math.floor(rand() * 4);
  for (let r = 0; r < rounds; r++) {
    const at = Math.floor(rand() * (bytes.length + 1));
    switch (Math.floor(rand() * 6)) {
      case 0:
        if (bytes.length) bytes[at % bytes.length]! ^= 1 << Math.floor(rand() * 8);
        break;
      case 1:
        bytes.length = at;
        break;
      case 2:
        bytes.splice(at, 0, Math.floor(rand() * 256));
        break;
      case 3:
        bytes.splice(at, 0, ...bytes.slice(0, Math.floor(rand() * 16)));
        break;
      case 4:
        if (bytes.length)
          bytes[at % bytes.length] = [0x00, 0x7f, 0x80, 0xff][Math.floor(rand() * 4)]!;
        break;
      default:
        // A huge varint length (claims gigabytes).
        bytes.splice(at, 0, 0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f);
    }
  }
  return new Uint8Array(bytes);
}

/**
 * A function that runs a full garbage collection: `global.gc` when Node was
 * started with `--expose-gc`, else one obtained at run time.
 */
export function garbageCollector(): () => void {
  const existing = (globalThis as { gc?: () => void }).gc;
  if (existing) return existing;
  setFlagsFromString("--expose_gc");
  return runInNewContext("gc") as () => void;
}

/** Heap in use after a full collection, in bytes. */
export async function settledHeap(gc: () => void): Promise<number> {
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
  }
  return process.memoryUsage().heapUsed;
}
