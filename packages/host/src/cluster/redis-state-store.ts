import { Code, ConnectError } from "@connectrpc/connect";
import type { Logger } from "@cpg/plugin-sdk";
import type { Redis } from "ioredis";
import { REAP_SCRIPT, WRITE_SCRIPT } from "./redis-scripts.js";
import { changeKey, type StateChange } from "./state-change.js";
import type { ResolvedRedisStoreOptions } from "./store-options.js";

/** Change stream entries kept for replicas that fall behind (approximate cap). */
const STREAM_MAX_LENGTH = 100_000;
/** Most runtimes one reaper run ends. */
const REAP_BATCH = 200;

/** The hashes that hold the current state, one record per field. */
export interface StateKeys {
  readonly runtime: string;
  readonly registration: string;
  readonly health: string;
  readonly grant: string;
  readonly lease: string;
  readonly changes: string;
  readonly seq: string;
  runtimeRegistrations(runtimeId: string): string;
  runtimeGrants(runtimeId: string): string;
  nonce(nonce: string): string;
  readonly rateLimitPrefix: string;
}

/** The keys under a prefix. */
export function stateKeys(prefix: string): StateKeys {
  return {
    runtime: `${prefix}:runtime`,
    registration: `${prefix}:registration`,
    health: `${prefix}:health`,
    grant: `${prefix}:grant`,
    lease: `${prefix}:lease`,
    changes: `${prefix}:changes`,
    seq: `${prefix}:seq`,
    runtimeRegistrations: (id) => `${prefix}:runtime-registrations:${id}`,
    runtimeGrants: (id) => `${prefix}:runtime-grants:${id}`,
    nonce: (n) => `${prefix}:nonce:${n}`,
    rateLimitPrefix: `${prefix}:ratelimit:`,
  };
}

/** Everything the shared store holds, read atomically with the stream position it matches. */
export interface StateSnapshot {
  /** Stream id of the last change reflected (`"0-0"` for none). */
  readonly streamId: string;
  /** Sequence number of that change (0 for none). */
  readonly seq: number;
  readonly runtimes: Record<string, string>;
  readonly registrations: Record<string, string>;
  readonly health: Record<string, string>;
  readonly grants: Record<string, string>;
}

/** One entry of the change stream. */
export interface ChangeEntry {
  readonly streamId: string;
  readonly seq: number;
  readonly origin: string;
  readonly version: number;
  readonly change: string;
}

/** How a change is written. */
export interface WriteOptions {
  /** Announce only when a record changed (lease renewals). Default: always. */
  readonly onlyIfChanged?: boolean;
  /** Renew this runtime's lease. */
  readonly lease?: string;
  /** Refuse (`unauthenticated`) when this runtime has no record any more. */
  readonly requireRuntime?: string;
  /** Renew the lease only: the record itself is not written. */
  readonly leaseOnly?: boolean;
}

/**
 * The replicas' shared state in Redis: records in hashes, every change also
 * appended to a stream that replicas follow, both in one atomic script.
 */
export interface RedisStateStore {
  readonly keys: StateKeys;
  /** The client for commands (also the rate-limit store's). */
  readonly client: Redis;
  /** Whether the command connection is up. */
  readonly connected: boolean;
  /** Writes a change; throws `unavailable` when Redis cannot take it. */
  write(
    change: StateChange,
    origin: string,
    version: number,
    options?: WriteOptions,
  ): Promise<ChangeEntry | undefined>;
  /** Reads every record and the stream position atomically. */
  snapshot(): Promise<StateSnapshot>;
  /** Waits (up to `blockMs`) for changes after `streamId`. */
  read(streamId: string, blockMs: number): Promise<ChangeEntry[]>;
  /** Ends the runtimes whose lease ran out; returns how many. */
  reap(): Promise<number>;
  /** Records a handshake nonce for `windowMs`; false when it was already used. */
  claimNonce(nonce: string, windowMs: number): Promise<boolean>;
  /** Closes both connections. */
  close(): Promise<void>;
}

type ScriptClient = Redis & {
  cpgWrite(...args: Array<string | number>): Promise<unknown>;
  cpgReap(...args: Array<string | number>): Promise<unknown>;
};

/** The `unavailable` error of a state-changing call while Redis cannot be reached. */
export function storeUnavailable(cause?: unknown): ConnectError {
  return new ConnectError(
    "the host cannot reach its shared state store (Redis); nothing was changed, try again or another replica",
    Code.Unavailable,
    undefined,
    undefined,
    cause,
  );
}

function opsFor(change: StateChange, keys: StateKeys): string[] {
  switch (change.kind) {
    case "runtime.put":
      return ["hset", keys.runtime, change.runtime.runtimeId, JSON.stringify(change.runtime)];
    case "runtime.del":
    case "runtime.expired": {
      const id = change.runtimeId;
      return [
        ...["hdel", keys.runtime, id, ""],
        ...["hdel", keys.health, id, ""],
        ...["hdelset", keys.registration, keys.runtimeRegistrations(id), ""],
        ...["del", keys.runtimeRegistrations(id), "", ""],
        ...["hdelset", keys.grant, keys.runtimeGrants(id), ""],
        ...["del", keys.runtimeGrants(id), "", ""],
        ...["zrem", keys.lease, id, ""],
      ];
    }
    case "registration.put": {
      const r = change.registration;
      return [
        ...["hset", keys.registration, r.id, JSON.stringify(r)],
        ...["sadd", keys.runtimeRegistrations(r.runtimeId), r.id, ""],
      ];
    }
    case "registration.del":
      return ["hdel", keys.registration, change.registrationId, ""];
    case "health.put":
      return ["hset", keys.health, change.runtimeId, JSON.stringify(change.health)];
    case "grant.put": {
      const g = change.grant;
      return [
        ...["hset", keys.grant, g.grantId, JSON.stringify(g)],
        ...["sadd", keys.runtimeGrants(g.runtimeId), g.grantId, ""],
      ];
    }
    case "grant.del":
      return ["hdel", keys.grant, change.grantId, ""];
  }
}

function fieldsOf(raw: unknown): Map<string, string> {
  const out = new Map<string, string>();
  if (!Array.isArray(raw)) return out;
  for (let i = 0; i + 1 < raw.length; i += 2) out.set(String(raw[i]), String(raw[i + 1]));
  return out;
}

function toEntry(id: string, raw: unknown): ChangeEntry {
  const f = fieldsOf(raw);
  return {
    streamId: id,
    seq: Number(f.get("s") ?? Number.NaN),
    origin: f.get("o") ?? "",
    version: Number(f.get("v") ?? 0),
    change: f.get("c") ?? "",
  };
}

/**
 * Connects to Redis (two connections: commands, and the blocking stream
 * reader). ioredis is loaded here, so hosts without a shared store never load it.
 */
export async function connectRedisStateStore(
  options: ResolvedRedisStoreOptions,
  logger: Logger,
): Promise<RedisStateStore> {
  const { Redis } = await import("ioredis");
  const keys = stateKeys(options.keyPrefix);
  const common = {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectTimeout: Math.max(options.commandTimeoutMs, 2_000),
    retryStrategy: (times: number) => Math.min(100 * times, 1_000),
  };
  const client = new Redis(options.url, {
    ...common,
    commandTimeout: options.commandTimeoutMs,
  }) as ScriptClient;
  const reader = new Redis(options.url, common);
  let lastError = "";
  for (const [name, c] of [
    ["commands", client],
    ["reader", reader],
  ] as const) {
    c.on("error", (error: Error) => {
      // ioredis reports every failed reconnect: log each distinct error once.
      if (error.message === lastError) return;
      lastError = error.message;
      logger.warn("shared state store connection failed", {
        connection: name,
        error: error.message,
      });
    });
    c.on("ready", () => {
      lastError = "";
    });
  }
  client.defineCommand("cpgWrite", { numberOfKeys: 3, lua: WRITE_SCRIPT });
  client.defineCommand("cpgReap", { numberOfKeys: 7, lua: REAP_SCRIPT });
  try {
    await Promise.all([client.connect(), reader.connect()]);
  } catch (cause) {
    client.disconnect();
    reader.disconnect();
    // ioredis reports "Connection is closed"; the connection error says why.
    throw new Error(lastError || (cause as Error).message, { cause });
  }

  const guard = async <T>(run: () => Promise<T>): Promise<T> => {
    try {
      return await run();
    } catch (cause) {
      if (cause instanceof ConnectError) throw cause;
      throw storeUnavailable(cause);
    }
  };

  return {
    keys,
    client,
    get connected() {
      return client.status === "ready";
    },
    write(change, origin, version, writeOptions = {}) {
      return guard(async () => {
        const reply = await client.cpgWrite(
          keys.changes,
          keys.seq,
          keys.lease,
          STREAM_MAX_LENGTH,
          JSON.stringify(change),
          origin,
          version,
          writeOptions.onlyIfChanged ? "changed" : "always",
          writeOptions.lease ?? "",
          options.leaseTtlMs,
          writeOptions.requireRuntime ?? "",
          keys.runtime,
          ...(writeOptions.leaseOnly ? [] : opsFor(change, keys)),
        );
        if (reply === "unchanged") return undefined;
        if (reply === "gone") {
          throw new ConnectError(
            `runtime identity ${writeOptions.requireRuntime} ended: its lease ran out (no health report for ${options.leaseTtlMs} ms)`,
            Code.Unauthenticated,
          );
        }
        if (!Array.isArray(reply) || reply.length !== 2) {
          throw new Error(`unexpected reply from the write script for ${changeKey(change)}`);
        }
        return {
          streamId: String(reply[0]),
          seq: Number(reply[1]),
          origin,
          version,
          change: JSON.stringify(change),
        };
      });
    },
    async snapshot() {
      const results = await client
        .multi()
        .xrevrange(keys.changes, "+", "-", "COUNT", 1)
        .get(keys.seq)
        .hgetall(keys.runtime)
        .hgetall(keys.registration)
        .hgetall(keys.health)
        .hgetall(keys.grant)
        .exec();
      if (!results) throw new Error("the snapshot transaction was aborted");
      for (const [error] of results) if (error) throw error;
      const value = (i: number) => results[i]?.[1];
      const last = value(0) as Array<[string, unknown]>;
      return {
        streamId: last[0]?.[0] ?? "0-0",
        seq: Number(value(1) ?? 0),
        runtimes: value(2) as Record<string, string>,
        registrations: value(3) as Record<string, string>,
        health: value(4) as Record<string, string>,
        grants: value(5) as Record<string, string>,
      };
    },
    async read(streamId, blockMs) {
      const reply = (await reader.xread(
        "COUNT",
        1_000,
        "BLOCK",
        blockMs,
        "STREAMS",
        keys.changes,
        streamId,
      )) as Array<[string, Array<[string, unknown]>]> | null;
      if (!reply) return [];
      return (reply[0]?.[1] ?? []).map(([id, raw]) => toEntry(id, raw));
    },
    async reap() {
      const n = await client.cpgReap(
        keys.lease,
        keys.runtime,
        keys.registration,
        keys.health,
        keys.grant,
        keys.changes,
        keys.seq,
        options.keyPrefix,
        STREAM_MAX_LENGTH,
        REAP_BATCH,
      );
      return Number(n);
    },
    claimNonce(nonce, windowMs) {
      return guard(async () => {
        const reply = await client.set(keys.nonce(nonce), "1", "PX", windowMs, "NX");
        return reply === "OK";
      });
    },
    async close() {
      // The reader may be blocked in XREAD: cut it rather than queue a QUIT behind it.
      reader.disconnect();
      await client.quit().catch(() => {});
      client.disconnect();
    },
  };
}
