import { AsyncLocalStorage } from "node:async_hooks";
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { generateId } from "@cpg/auth";
import type { Logger } from "@cpg/plugin-sdk";
import type { EventStream } from "@cpg/plugin-sdk/internal";
import type { CapabilityGrant } from "../broker/capability-grant.js";
import type { GrantStore } from "../broker/grant-store.js";
import type { HostEvent } from "../events/host-event.js";
import type { PluginHealthTable } from "../health/plugin-health.js";
import type { RuntimeIdentities } from "../identity/runtime-identities.js";
import type { Registration } from "../registry/registration.js";
import type { ServiceRegistry } from "../registry/service-registry.js";
import { applyChange, applySnapshot } from "./apply-to-view.js";
import {
  type ChangeEntry,
  connectRedisStateStore,
  type RedisStateStore,
  storeUnavailable,
  type WriteOptions,
} from "./redis-state-store.js";
import { changeKey, decodeChange, type StateChange } from "./state-change.js";
import type { ResolvedRedisStoreOptions } from "./store-options.js";

/** The host state a replica mirrors. */
export interface ReplicatedState {
  readonly events: EventStream<HostEvent>;
  readonly identities: RuntimeIdentities;
  readonly registry: ServiceRegistry;
  readonly health: PluginHealthTable;
  readonly grants: GrantStore;
}

/** Options of {@link createStateReplication}. */
export interface StateReplicationOptions {
  readonly store: ResolvedRedisStoreOptions;
  readonly state: ReplicatedState;
  readonly logger: Logger;
  readonly now: () => number;
  /** Called when {@link StateReplication.fresh} changes (checked about every second). */
  readonly onFreshChange?: (fresh: boolean) => void;
  /** Connects to Redis; tests may pass their own. Default: {@link connectRedisStateStore}. */
  readonly connect?: (
    options: ResolvedRedisStoreOptions,
    logger: Logger,
  ) => Promise<RedisStateStore>;
}

/**
 * How a host replica shares its state with the others through Redis.
 *
 * - Local changes (handshakes, registrations, health reports, grants and
 *   revocations) are applied to the replica's in-memory view at once and
 *   written to Redis with the change stream entry that announces them; the
 *   call that made them answers only once Redis has them (see
 *   {@link StateReplication.interceptor}).
 * - Every replica follows the change stream and applies the changes, its own
 *   included, in stream order, so all views converge on the stream's order.
 * - Reads (authentication, discovery, routing) never wait for Redis.
 */
export interface StateReplication {
  /** This replica's id in the change stream. */
  readonly replicaId: string;
  /** Connects, loads the state and follows the change stream; rejects when Redis cannot be reached. */
  start(): Promise<void>;
  /**
   * Whether the replica may still serve from its view: in sync, or out of
   * touch with Redis for less than `maxStaleMs`.
   */
  fresh(): boolean;
  /** Whether state-changing calls can be taken now. */
  writable(): boolean;
  /**
   * For the host's own services: refuses state-changing calls with
   * `unavailable` while Redis is out of reach, waits until the changes a
   * call made are stored, and undoes them when they could not be.
   */
  readonly interceptor: Interceptor;
  /** Records a handshake nonce for `windowMs`; false when it was used before. */
  claimNonce(nonce: string, windowMs: number): Promise<boolean>;
  /** The Redis connection for commands (the rate-limit store uses it); undefined before `start`. */
  readonly redis: RedisStateStore | undefined;
  /** Feeds grants the broker issued or extended. */
  grantIssued(grant: CapabilityGrant): void;
  /** Feeds grants that were revoked on this replica. */
  grantRevoked(grant: CapabilityGrant): void;
  /** Stops following and closes the connections. */
  close(): Promise<void>;
}

/** Procedures that change state; the rest only read. */
const STATE_CHANGING = new Set([
  "/connectplugin.v1.HandshakeService/Handshake",
  "/connectplugin.v1.PluginLifecycle/ReportHealth",
  "/connectplugin.v1.ServiceRegistry/RegisterService",
  "/connectplugin.v1.ServiceRegistry/UnregisterService",
  "/connectplugin.v1.CapabilityBroker/RequestCapability",
  "/cpg.admin.v1.AdminService/AddPlugin",
  "/cpg.admin.v1.AdminService/RemovePlugin",
  "/cpg.admin.v1.AdminService/ReplacePlugin",
  "/cpg.admin.v1.AdminService/RevokeGrant",
]);

interface PendingWrite {
  readonly done: Promise<unknown>;
  readonly undo: (() => void) | undefined;
}

const delay = (ms: number) =>
  new Promise<void>((resolve) => {
    setTimeout(resolve, ms).unref();
  });

/**
 * Creates the {@link StateReplication} of one host replica.
 */
export function createStateReplication(options: StateReplicationOptions): StateReplication {
  const { state, logger, now } = options;
  const { events, identities, registry, health, grants } = state;
  const settings = options.store;
  const replicaId = `replica-${generateId(6)}`;
  const callWrites = new AsyncLocalStorage<PendingWrite[]>();
  // Version of this replica's latest write per record, to skip its own older
  // writes when they come back through the stream.
  const latestOwn = new Map<string, number>();
  // Removals that could not be written yet: retried in order.
  const retries: StateChange[] = [];
  let store: RedisStateStore | undefined;
  let version = 0;
  let applyingRemote = 0;
  let synced = false;
  let streamId = "0-0";
  let seq = 0;
  let lostAt: number | undefined;
  let syncedSince: number | undefined;
  let closed = false;
  let following: Promise<void> | undefined;
  let timer: NodeJS.Timeout | undefined;
  // The runtime whose report just changed its health (health.changed comes first).
  let changedHealth: string | undefined;

  // In-process and managed plugins live beside this replica: other replicas
  // could not reach them (memory:// or this machine's loopback), so their
  // registrations stay local.
  const localOnly = (r: Registration) =>
    r.baseUrl?.startsWith("memory://") === true || identities.get(r.runtimeId)?.managed === true;

  const remote = (apply: () => void) => {
    applyingRemote++;
    try {
      apply();
    } finally {
      applyingRemote--;
    }
  };

  const markLost = () => {
    if (lostAt === undefined && synced) {
      logger.warn("lost the shared state store; serving from the last known state", {
        max_stale_ms: settings.maxStaleMs,
      });
    }
    lostAt ??= now();
    synced = false;
  };

  const write = (change: StateChange, writeOptions?: WriteOptions) => {
    const key = changeKey(change);
    const v = ++version;
    latestOwn.set(key, v);
    if (store === undefined) return Promise.reject(storeUnavailable());
    return store.write(change, replicaId, v, writeOptions).then((entry) => {
      if (entry === undefined && latestOwn.get(key) === v) latestOwn.delete(key);
      return entry;
    });
  };

  /** Writes a change made on this replica; the current call waits for it. */
  const publish = (change: StateChange, writeOptions?: WriteOptions, undo?: () => void) => {
    if (applyingRemote > 0 || closed) return;
    const done = write(change, writeOptions);
    const pending = callWrites.getStore();
    if (pending) {
      pending.push({ done, undo });
      return;
    }
    done.catch((error: unknown) => {
      logger.error("could not store a state change", { change: changeKey(change), error });
      if (undo) remote(undo);
    });
  };

  /** Writes a removal: never undone, retried until Redis takes it. */
  const publishRemoval = (change: StateChange) => {
    if (applyingRemote > 0 || closed) return;
    write(change).catch(() => {
      retries.push(change);
    });
  };

  const flushRetries = async () => {
    while (retries.length > 0 && store?.connected) {
      const change = retries[0]!;
      try {
        await write(change);
        retries.shift();
      } catch {
        return;
      }
    }
  };

  events.subscribe((event) => {
    if (applyingRemote > 0) return;
    switch (event.type) {
      case "runtime.issued":
      case "runtime.refreshed": {
        const runtime = identities.get(event.runtimeId);
        if (runtime === undefined) return;
        publish(
          { kind: "runtime.put", runtime },
          { lease: runtime.runtimeId },
          event.type === "runtime.issued" ? () => identities.revoke(runtime.runtimeId) : undefined,
        );
        return;
      }
      case "runtime.ended":
        if (event.reason === "revoked") {
          publishRemoval({ kind: "runtime.del", runtimeId: event.runtimeId });
        }
        return;
      case "service.registered": {
        const r = event.registration;
        if (localOnly(r)) return;
        publish(
          { kind: "registration.put", registration: r },
          { lease: r.runtimeId, requireRuntime: r.runtimeId },
          () => {
            if (registry.get(r.id) !== undefined) registry.unregister(r.id, undefined);
          },
        );
        return;
      }
      case "service.unregistered": {
        const r = event.registration;
        if (event.reason === "runtime_ended" || localOnly(r)) return;
        publishRemoval({ kind: "registration.del", registrationId: r.id, runtimeId: r.runtimeId });
        return;
      }
      case "health.changed":
        changedHealth = event.runtimeId;
        return;
      case "health.reported": {
        const report = health.get(event.runtimeId);
        const changed = changedHealth === event.runtimeId;
        changedHealth = undefined;
        if (report === undefined) return;
        const lease = { lease: event.runtimeId, requireRuntime: event.runtimeId };
        // An unchanged report only renews the lease: nothing is announced.
        publish(
          { kind: "health.put", runtimeId: event.runtimeId, health: report },
          changed ? lease : { ...lease, onlyIfChanged: true, leaseOnly: true },
        );
        return;
      }
      default:
        return;
    }
  });

  const applyEntry = (entry: ChangeEntry) => {
    let change: StateChange;
    try {
      change = decodeChange(entry.change);
    } catch (error) {
      logger.error("ignoring a malformed change in the shared state stream", {
        stream_id: entry.streamId,
        error,
      });
      return;
    }
    if (entry.origin === replicaId) {
      const key = changeKey(change);
      const latest = latestOwn.get(key);
      // A newer change of ours to this record was applied locally and follows in the stream.
      if (latest !== undefined && entry.version < latest) return;
      if (latest === entry.version) latestOwn.delete(key);
    }
    remote(() => applyChange(state, change));
  };

  /** Loads the whole state and makes the local view match it. */
  const resync = async (s: RedisStateStore) => {
    const snapshot = await s.snapshot();
    remote(() => applySnapshot(state, snapshot, localOnly, logger));
    streamId = snapshot.streamId;
    seq = snapshot.seq;
    if (lostAt !== undefined) {
      logger.info("shared state store is back; state reloaded", {
        out_of_touch_ms: now() - lostAt,
      });
    }
    lostAt = undefined;
    synced = true;
    syncedSince = now();
  };

  const follow = async (s: RedisStateStore) => {
    while (!closed) {
      if (!synced) {
        try {
          await resync(s);
        } catch {
          markLost();
          await delay(250);
          continue;
        }
      }
      let entries: ChangeEntry[];
      try {
        entries = await s.read(streamId, 1_000);
      } catch {
        if (closed) return;
        markLost();
        await delay(250);
        continue;
      }
      for (const entry of entries) {
        if (entry.seq !== seq + 1) {
          // Entries were trimmed before this replica read them: reload everything.
          logger.warn("missed changes in the shared state stream; reloading the state", {
            expected: seq + 1,
            got: entry.seq,
          });
          synced = false;
          break;
        }
        seq = entry.seq;
        streamId = entry.streamId;
        applyEntry(entry);
      }
    }
  };

  let wasFresh = true;
  const tick = async () => {
    const s = store;
    if (s === undefined || closed) return;
    const fresh = replication.fresh();
    if (fresh !== wasFresh) {
      wasFresh = fresh;
      options.onFreshChange?.(fresh);
    }
    await flushRetries();
    // After (re)connecting, plugins get one lease period to renew before the
    // reaper ends anyone: they could not renew while Redis was away.
    if (synced && syncedSince !== undefined && now() - syncedSince >= settings.leaseTtlMs) {
      try {
        const ended = await s.reap();
        if (ended > 0) logger.info("runtime leases ran out", { runtimes: ended });
      } catch {
        // The follower notices a lost connection; nothing to undo here.
      }
    }
  };

  const interceptor: Interceptor = (next) => async (req) => {
    if (req.method.methodKind !== "unary") return next(req);
    if (STATE_CHANGING.has(`/${req.service.typeName}/${req.method.name}`)) {
      if (!replication.writable()) throw storeUnavailable();
    }
    const pending: PendingWrite[] = [];
    const res = await callWrites.run(pending, () => next(req));
    if (pending.length === 0) return res;
    const results = await Promise.allSettled(pending.map((p) => p.done));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed === undefined) return res;
    for (const p of [...pending].reverse()) if (p.undo) remote(p.undo);
    throw failed.reason instanceof ConnectError
      ? failed.reason
      : new ConnectError("could not store the change", Code.Unavailable);
  };

  const replication: StateReplication = {
    replicaId,
    async start() {
      if (store !== undefined) return;
      const s = await (options.connect ?? connectRedisStateStore)(settings, logger);
      store = s;
      await resync(s);
      following = follow(s);
      timer = setInterval(
        () => {
          void tick();
        },
        Math.min(1_000, Math.max(50, Math.floor(settings.leaseTtlMs / 4))),
      );
      timer.unref();
      logger.info("joined the shared state store", {
        replica_id: replicaId,
        runtimes: identities.size,
        registrations: registry.size,
      });
    },
    fresh() {
      return synced || (lostAt !== undefined && now() - lostAt < settings.maxStaleMs);
    },
    writable() {
      return synced && store?.connected === true;
    },
    interceptor,
    async claimNonce(nonce, windowMs) {
      if (store === undefined) throw storeUnavailable();
      return store.claimNonce(nonce, windowMs);
    },
    get redis() {
      return store;
    },
    grantIssued(grant) {
      publish({ kind: "grant.put", grant }, {}, () => grants.revoke(grant.grantId));
    },
    grantRevoked(grant) {
      publishRemoval({ kind: "grant.del", grantId: grant.grantId });
    },
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(timer);
      await flushRetries().catch(() => {});
      await store?.close();
      await following;
    },
  };
  return replication;
}
