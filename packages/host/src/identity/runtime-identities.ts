import { Code, ConnectError } from "@connectrpc/connect";
import {
  authErrorToConnectError,
  createMemoryTokenStore,
  generateId,
  isAuthError,
  type TokenEntry,
} from "@cpg/auth";
import type { EventStream } from "@cpg/plugin-sdk/internal";
import type { HostEvent } from "../events/host-event.js";
import type { RuntimeIdentity } from "./runtime-identity.js";

/**
 * Options of {@link createRuntimeIdentities}.
 */
export interface RuntimeIdentitiesOptions {
  /** Token lifetime in milliseconds. */
  readonly ttlMs: number;
  /** Most identities alive at once; further handshakes get `resource_exhausted`. */
  readonly maxEntries: number;
  /** Clock, Unix milliseconds. */
  readonly now: () => number;
  /** Where `runtime.*` events go. */
  readonly events: EventStream<HostEvent>;
  /** How often expired identities are swept. Default: 30 s. */
  readonly sweepIntervalMs?: number;
}

/**
 * Who a plugin is, as stored with its runtime token.
 */
interface PluginIdentityFacts {
  readonly selfId: string;
  readonly selfVersion: string;
  readonly managed: boolean;
  readonly peerIdentity: string | undefined;
  readonly requires: readonly string[];
}

/**
 * The runtime identities of a host, kept in `@cpg/auth`'s token store.
 */
export interface RuntimeIdentities {
  /** Issues a new identity with a unique runtime id and a fresh token. */
  issue(plugin: {
    selfId: string;
    selfVersion?: string;
    managed?: boolean;
    peerIdentity?: string;
    requires?: readonly string[];
  }): Promise<RuntimeIdentity>;
  /** Replaces the token of a live identity (same runtime id, new token and expiry). */
  refresh(runtimeId: string): Promise<RuntimeIdentity>;
  /** The identity when `token` is its current, unexpired token (constant-time comparison). */
  verify(runtimeId: string, token: string): RuntimeIdentity | undefined;
  /** A live identity by runtime id. */
  get(runtimeId: string): RuntimeIdentity | undefined;
  /** Every live identity. */
  list(): RuntimeIdentity[];
  /**
   * Takes over an identity issued by another host replica, token and expiry
   * included (replicated mode). Emits `runtime.issued` for a new runtime id,
   * `runtime.refreshed` for a new token or expiry, nothing when unchanged.
   */
  restore(identity: RuntimeIdentity): void;
  /** Ends an identity now; returns false when it did not exist. */
  revoke(runtimeId: string): boolean;
  /** Ends every expired identity now (the sweeper also does this). */
  sweep(): void;
  /** Number of live identities. */
  readonly size: number;
  /** Stops the sweeper. */
  close(): void;
}

// 8 random bytes: collisions are practically impossible, and still checked.
const SUFFIX_BYTES = 8;

/** The frozen identity of a store entry, built once per token. */
function toIdentity(entry: TokenEntry<PluginIdentityFacts>): RuntimeIdentity {
  const facts = entry.value;
  return Object.freeze({
    runtimeId: entry.id,
    token: entry.token,
    expiresAt: entry.expiresAt,
    selfId: facts.selfId,
    selfVersion: facts.selfVersion,
    managed: facts.managed,
    peerIdentity: facts.peerIdentity,
    requires: facts.requires,
  });
}

function wireError(error: unknown): unknown {
  return isAuthError(error) ? authErrorToConnectError(error) : error;
}

/**
 * Creates the host's {@link RuntimeIdentities}.
 */
export function createRuntimeIdentities(options: RuntimeIdentitiesOptions): RuntimeIdentities {
  const { events } = options;
  // Ids of live entries, to list them; the store itself is keyed by id.
  const ids = new Set<string>();
  // The identity of every live token, keyed by token: `verify` runs for every
  // authenticated call, and answering with an identity built at issue time
  // saves building one per call. Kept in step with the store: set on issue,
  // refresh and restore, deleted when the store removes an entry.
  const byToken = new Map<string, RuntimeIdentity>();
  const { now } = options;
  function remember(entry: TokenEntry<PluginIdentityFacts>): RuntimeIdentity {
    const identity = toIdentity(entry);
    byToken.set(entry.token, identity);
    return identity;
  }
  function identityOf(entry: TokenEntry<PluginIdentityFacts>): RuntimeIdentity {
    const known = byToken.get(entry.token);
    return known?.runtimeId === entry.id && known.expiresAt === entry.expiresAt
      ? known
      : remember(entry);
  }
  const store = createMemoryTokenStore<PluginIdentityFacts>({
    ttlMs: options.ttlMs,
    maxEntries: options.maxEntries,
    sweepIntervalMs: options.sweepIntervalMs ?? 30_000,
    now: options.now,
    onRemove(entry, reason) {
      if (byToken.get(entry.token)?.runtimeId === entry.id) byToken.delete(entry.token);
      if (reason === "replaced") return;
      ids.delete(entry.id);
      events.emit({ type: "runtime.ended", runtimeId: entry.id, reason });
    },
  });

  const identities: Omit<RuntimeIdentities, "size"> = {
    async issue(plugin) {
      const facts: PluginIdentityFacts = {
        selfId: plugin.selfId,
        selfVersion: plugin.selfVersion ?? "",
        managed: plugin.managed ?? false,
        peerIdentity: plugin.peerIdentity,
        requires: [...(plugin.requires ?? [])],
      };
      const prefix = plugin.selfId.toLowerCase();
      for (let attempt = 0; attempt < 4; attempt++) {
        let runtimeId: string;
        try {
          runtimeId = `${prefix}-${generateId(SUFFIX_BYTES)}`;
        } catch (error) {
          throw wireError(error);
        }
        if (store.get(runtimeId) !== undefined) continue;
        let entry: TokenEntry<PluginIdentityFacts>;
        try {
          entry = store.issue(runtimeId, facts);
        } catch (error) {
          throw wireError(error);
        }
        ids.add(runtimeId);
        const identity = remember(entry);
        events.emit({
          type: "runtime.issued",
          runtimeId,
          selfId: facts.selfId,
          expiresAt: entry.expiresAt,
        });
        return identity;
      }
      throw new ConnectError("could not allocate a unique runtime id", Code.Internal);
    },
    async refresh(runtimeId) {
      const previous = store.get(runtimeId);
      let entry: TokenEntry<PluginIdentityFacts> | undefined;
      try {
        entry = store.refresh(runtimeId, { rotate: true });
      } catch (error) {
        throw wireError(error);
      }
      if (entry === undefined) {
        throw new ConnectError(`unknown or expired runtime id ${runtimeId}`, Code.Unauthenticated);
      }
      if (previous !== undefined) byToken.delete(previous.token);
      const identity = remember(entry);
      events.emit({ type: "runtime.refreshed", runtimeId, expiresAt: entry.expiresAt });
      return identity;
    },
    verify(runtimeId, token) {
      // The same checks as the store's `verify` (a map lookup by the presented
      // token, then the runtime id and the expiry), on the prebuilt identity.
      const identity = byToken.get(token);
      if (identity === undefined || identity.runtimeId !== runtimeId) return undefined;
      if (now() < identity.expiresAt) return identity;
      store.verify(runtimeId, token); // removes the expired entry and says so
      return undefined;
    },
    get(runtimeId) {
      const entry = store.get(runtimeId);
      return entry === undefined ? undefined : identityOf(entry);
    },
    list() {
      const out: RuntimeIdentity[] = [];
      for (const id of [...ids]) {
        const entry = store.get(id);
        if (entry !== undefined) out.push(identityOf(entry));
      }
      return out;
    },
    restore(identity) {
      const existing = store.get(identity.runtimeId);
      if (
        existing !== undefined &&
        existing.token === identity.token &&
        existing.expiresAt === identity.expiresAt
      ) {
        return;
      }
      const entry = store.restore({
        id: identity.runtimeId,
        token: identity.token,
        issuedAt: options.now(),
        expiresAt: identity.expiresAt,
        value: {
          selfId: identity.selfId,
          selfVersion: identity.selfVersion,
          managed: identity.managed,
          peerIdentity: identity.peerIdentity,
          requires: [...identity.requires],
        },
      });
      remember(entry);
      if (existing !== undefined) {
        events.emit({ type: "runtime.refreshed", runtimeId: entry.id, expiresAt: entry.expiresAt });
        return;
      }
      ids.add(entry.id);
      events.emit({
        type: "runtime.issued",
        runtimeId: entry.id,
        selfId: identity.selfId,
        expiresAt: entry.expiresAt,
      });
    },
    revoke(runtimeId) {
      return store.revoke(runtimeId);
    },
    sweep() {
      store.sweep();
    },
    close() {
      store.close();
      byToken.clear();
    },
  };
  // Defined here rather than as `get size()` in the literal above: V8 keeps
  // an object literal with an accessor in slow (dictionary) mode, and every
  // `verify` call would pay for a dictionary lookup of the method.
  return Object.defineProperty(identities, "size", {
    get: () => store.size(),
    enumerable: true,
  }) as RuntimeIdentities;
}
