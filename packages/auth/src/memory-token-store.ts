import { AuthError } from "./auth-error.js";
import { eventLoopNow } from "./event-loop-clock.js";
import { generateToken, type RandomSource, systemRandomSource } from "./generate-token.js";
import type {
  IssueTokenOptions,
  RefreshTokenOptions,
  TokenEntry,
  TokenRemovalReason,
  TokenStore,
} from "./token-store.js";

/** Options of {@link createMemoryTokenStore}. */
export interface MemoryTokenStoreOptions<T> {
  /**
   * Default lifetime of an entry in milliseconds. Default: 24 hours (the
   * runtime-token default; use 1 hour for capability grants).
   */
  readonly ttlMs?: number;
  /**
   * Size bound. When full, `issue` first sweeps expired entries, then fails
   * with `AuthError` code `store_full` (`resource_exhausted`); live tokens
   * are never evicted. Default: 100 000.
   */
  readonly maxEntries?: number;
  /**
   * How often a background sweep removes expired entries; `0` turns it off
   * (expired entries are then removed on lookup, by `sweep()` and when the
   * store is full). The timer is `unref`'d. Default: 60 000 ms.
   */
  readonly sweepIntervalMs?: number;
  /** Entropy of each token in bytes (16..1024). Default: 32. */
  readonly tokenBytes?: number;
  /** The clock, in ms since the epoch. Default: {@link eventLoopNow} (`Date.now()` read once per synchronous run). */
  readonly now?: () => number;
  /** Where token bytes come from. Default: the platform CSPRNG. */
  readonly randomSource?: RandomSource;
  /**
   * Called after an entry left the store because it expired, was revoked or
   * was replaced (not on `close()`). Runs synchronously, possibly inside
   * `verify` or the background sweep: keep it quick and do not throw.
   * Default: none.
   */
  readonly onRemove?: (entry: TokenEntry<T>, reason: TokenRemovalReason) => void;
}

/**
 * The in-memory {@link TokenStore}: every method answers synchronously, and
 * `verify` is a map lookup by the presented token (no JavaScript loop reads
 * a secret; see the implementation for why its timing leaks nothing useful).
 */
export interface MemoryTokenStore<T> extends TokenStore<T> {
  issue(id: string, value: T, options?: IssueTokenOptions): TokenEntry<T>;
  verify(id: string, token: string): TokenEntry<T> | undefined;
  get(id: string): TokenEntry<T> | undefined;
  refresh(id: string, options?: RefreshTokenOptions): TokenEntry<T> | undefined;
  /**
   * Stores an entry issued elsewhere as it is (token and expiry included),
   * replacing any entry with the same id: how a host replica takes over the
   * identities and grants another replica issued. Not bounded by
   * `maxEntries` (a replica mirrors what its peers hold). Throws
   * `store_closed` after `close()`, `invalid_options` for a malformed entry.
   */
  restore(entry: TokenEntry<T>): TokenEntry<T>;
  revoke(id: string): boolean;
  revokeWhere(predicate: (entry: TokenEntry<T>) => boolean): number;
  sweep(): number;
  size(): number;
  close(): void;
}

const HOUR_MS = 60 * 60 * 1000;
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Creates a bounded in-memory token store with expiry, background sweeping
 * and removal notifications. One process only; implement {@link TokenStore}
 * over a shared database to share tokens between host replicas.
 *
 * @example
 * ```ts
 * const store = createMemoryTokenStore<{ selfId: string }>({ ttlMs: 60 * 60 * 1000 });
 * const { token } = store.issue("billing-3f2a", { selfId: "billing" });
 * store.verify("billing-3f2a", token); // the entry
 * store.verify("billing-3f2a", "guess"); // undefined
 * store.close();
 * ```
 */
export function createMemoryTokenStore<T = undefined>(
  options: MemoryTokenStoreOptions<T> = {},
): MemoryTokenStore<T> {
  const config = resolveOptions(options);
  const entries = new Map<string, TokenEntry<T>>();
  // The same entries keyed by their token: `verify` finds an entry by the
  // token presented, so no JavaScript loop ever reads a secret. A Map hashes
  // the key with a per-process random seed and compares strings only when
  // the hashes match, so a wrong token's lookup time does not depend on how
  // many of its leading characters are right.
  const byToken = new Map<string, TokenEntry<T>>();
  let closed = false;
  const timer =
    config.sweepIntervalMs > 0 ? setInterval(() => sweep(), config.sweepIntervalMs) : undefined;
  (timer as { unref?: () => void } | undefined)?.unref?.();

  function remove(entry: TokenEntry<T>, reason: TokenRemovalReason): void {
    entries.delete(entry.id);
    byToken.delete(entry.token);
    config.onRemove?.(entry, reason);
  }

  /** The entry of `id` if it has not expired; removes it if it has. */
  function live(id: string): TokenEntry<T> | undefined {
    const entry = entries.get(id);
    if (entry === undefined || config.now() < entry.expiresAt) return entry;
    remove(entry, "expired");
    return undefined;
  }

  function sweep(): number {
    const now = config.now();
    let removed = 0;
    for (const entry of entries.values()) {
      if (now >= entry.expiresAt) {
        remove(entry, "expired");
        removed++;
      }
    }
    return removed;
  }

  function assertOpen(): void {
    if (closed) throw new AuthError("store_closed", "token store is closed");
  }

  return {
    issue(id, value, issueOptions = {}) {
      assertOpen();
      if (typeof id !== "string" || id.length === 0) {
        throw new AuthError("invalid_options", "token store: id must be a non-empty string");
      }
      const ttlMs = checkTtl(issueOptions.ttlMs ?? config.ttlMs, "issue: ");
      const existing = live(id);
      if (existing !== undefined && issueOptions.replace !== true) {
        throw new AuthError(
          "already_exists",
          `token store: id "${id}" already has a live entry; revoke it or pass replace: true`,
        );
      }
      if (existing === undefined && entries.size >= config.maxEntries && sweep() === 0) {
        throw new AuthError(
          "store_full",
          `token store is full (maxEntries: ${config.maxEntries}); no entry was evicted`,
        );
      }
      const token = generateToken(config.tokenBytes, config.randomSource);
      const now = config.now();
      const entry = Object.freeze({ id, token, value, issuedAt: now, expiresAt: now + ttlMs });
      entries.set(id, entry);
      if (existing !== undefined) byToken.delete(existing.token);
      byToken.set(token, entry);
      if (existing !== undefined) config.onRemove?.(existing, "replaced");
      return entry;
    },

    verify(id, token) {
      if (typeof token !== "string") return undefined;
      const entry = byToken.get(token);
      // Ids are not secret: comparing them directly leaks nothing.
      if (entry === undefined || entry.id !== id) return undefined;
      if (config.now() < entry.expiresAt) return entry;
      remove(entry, "expired");
      return undefined;
    },

    get: live,

    refresh(id, refreshOptions = {}) {
      assertOpen();
      const ttlMs = checkTtl(refreshOptions.ttlMs ?? config.ttlMs, "refresh: ");
      const existing = live(id);
      if (existing === undefined) return undefined;
      const now = config.now();
      const rotated =
        refreshOptions.rotate === true
          ? { token: generateToken(config.tokenBytes, config.randomSource), issuedAt: now }
          : undefined;
      const entry = Object.freeze({ ...existing, ...rotated, expiresAt: now + ttlMs });
      entries.set(id, entry);
      // Deleting a key leaves a hole in the map until it is rehashed, which
      // slows every lookup: overwrite in place when the token stays.
      if (existing.token !== entry.token) byToken.delete(existing.token);
      byToken.set(entry.token, entry);
      return entry;
    },

    restore(given) {
      assertOpen();
      if (
        typeof given?.id !== "string" ||
        given.id.length === 0 ||
        typeof given.token !== "string" ||
        given.token.length === 0 ||
        !Number.isFinite(given.issuedAt) ||
        !Number.isFinite(given.expiresAt)
      ) {
        throw new AuthError(
          "invalid_options",
          "token store: restore needs an entry with id, token, issuedAt and expiresAt",
        );
      }
      const entry = Object.freeze({
        id: given.id,
        token: given.token,
        value: given.value,
        issuedAt: given.issuedAt,
        expiresAt: given.expiresAt,
      });
      const existing = entries.get(entry.id);
      entries.set(entry.id, entry);
      if (existing !== undefined && existing.token !== entry.token) byToken.delete(existing.token);
      byToken.set(entry.token, entry);
      if (existing !== undefined) config.onRemove?.(existing, "replaced");
      return entry;
    },

    revoke(id) {
      const entry = live(id);
      if (entry === undefined) return false;
      remove(entry, "revoked");
      return true;
    },

    revokeWhere(predicate) {
      let revoked = 0;
      for (const id of [...entries.keys()]) {
        const entry = live(id);
        if (entry !== undefined && predicate(entry)) {
          remove(entry, "revoked");
          revoked++;
        }
      }
      return revoked;
    },

    sweep,

    size() {
      return entries.size;
    },

    close() {
      closed = true;
      if (timer !== undefined) clearInterval(timer);
      entries.clear();
      byToken.clear();
    },
  };
}

interface ResolvedOptions<T> {
  readonly ttlMs: number;
  readonly maxEntries: number;
  readonly sweepIntervalMs: number;
  readonly tokenBytes: number;
  readonly now: () => number;
  readonly randomSource: RandomSource;
  readonly onRemove: ((entry: TokenEntry<T>, reason: TokenRemovalReason) => void) | undefined;
}

function resolveOptions<T>(options: MemoryTokenStoreOptions<T>): ResolvedOptions<T> {
  const resolved: ResolvedOptions<T> = {
    ttlMs: checkTtl(options.ttlMs ?? 24 * HOUR_MS, ""),
    maxEntries: options.maxEntries ?? 100_000,
    sweepIntervalMs: options.sweepIntervalMs ?? 60_000,
    tokenBytes: options.tokenBytes ?? 32,
    now: options.now ?? eventLoopNow,
    randomSource: options.randomSource ?? systemRandomSource,
    onRemove: options.onRemove,
  };
  if (!Number.isSafeInteger(resolved.maxEntries) || resolved.maxEntries < 1) {
    throw invalid(`maxEntries must be a positive integer, got ${resolved.maxEntries}`);
  }
  const interval = resolved.sweepIntervalMs;
  if (!Number.isInteger(interval) || interval < 0 || interval > MAX_TIMER_MS) {
    throw invalid(
      `sweepIntervalMs must be 0 (off) or an integer up to ${MAX_TIMER_MS}, got ${interval}`,
    );
  }
  if (
    !Number.isInteger(resolved.tokenBytes) ||
    resolved.tokenBytes < 16 ||
    resolved.tokenBytes > 1024
  ) {
    throw invalid(`tokenBytes must be an integer from 16 to 1024, got ${resolved.tokenBytes}`);
  }
  for (const name of ["now", "randomSource", "onRemove"] as const) {
    const fn = resolved[name];
    if (fn !== undefined && typeof fn !== "function") throw invalid(`${name} must be a function`);
  }
  return resolved;
}

function checkTtl(ttlMs: number, context: string): number {
  if (typeof ttlMs !== "number" || !Number.isFinite(ttlMs) || ttlMs <= 0) {
    throw invalid(`${context}ttlMs must be a positive finite number of milliseconds, got ${ttlMs}`);
  }
  return ttlMs;
}

function invalid(message: string): AuthError {
  return new AuthError("invalid_options", `createMemoryTokenStore: ${message}`);
}
