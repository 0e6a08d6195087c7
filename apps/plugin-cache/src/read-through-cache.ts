/**
 * What the cache reads through to and writes to: the key-value store.
 */
export interface KvBackend {
  /** Reads a key from the store. */
  get(key: string): Promise<{ value: string; found: boolean }>;
  /** Writes a key to the store. */
  put(key: string, value: string): Promise<void>;
}

/**
 * A change of a key in the store, as its Watch stream reports it.
 */
export interface KvChangeEvent {
  readonly key: string;
  readonly value: string;
  readonly deleted: boolean;
}

/**
 * A value read through the cache.
 */
export interface CachedRead {
  readonly value: string;
  readonly found: boolean;
  /** Whether the cache answered without reading the store. */
  readonly fromCache: boolean;
}

/**
 * Options of {@link createReadThroughCache}.
 */
export interface ReadThroughCacheOptions {
  /** The store behind the cache. */
  readonly backend: KvBackend;
  /** How long an entry stays fresh when no TTL is given, in ms. Default: 60,000. */
  readonly defaultTtlMs?: number;
  /** Most entries held; the oldest goes first. Default: 10,000. */
  readonly maxEntries?: number;
  /** Clock, Unix milliseconds. Default: `Date.now`. */
  readonly now?: () => number;
}

/**
 * A read-through cache with a TTL per entry, kept coherent by the store's
 * change stream: every change drops the entry of its key (unless the entry
 * already holds the new value), and while the stream is down the cache
 * holds nothing. It starts suspended: call `resume()` once the stream is up.
 */
export interface ReadThroughCache {
  /** Reads a key: a fresh entry if there is one (a hit), else the store (a miss). */
  get(key: string): Promise<CachedRead>;
  /** Writes a key to the store, then caches it for `ttlMs` (default: the cache's TTL). */
  set(key: string, value: string, ttlMs?: number): Promise<void>;
  /** Reads answered from the cache (hits) and from the store (misses). */
  stats(): { hits: number; misses: number };
  /** Applies a change seen on the store's change stream. */
  applyChange(change: KvChangeEvent): void;
  /** The change stream is down: drop every entry and cache nothing until `resume()`. */
  suspend(): void;
  /** The change stream is up: cache again. */
  resume(): void;
  /** Whether the cache currently caches (the change stream is up). */
  readonly active: boolean;
  /** Entries held, fresh or not. */
  readonly size: number;
}

interface Entry {
  readonly value: string;
  readonly found: boolean;
  readonly expiresAt: number;
}

/** Store operations in flight on one key, and the last change seen meanwhile. */
interface Pending {
  ops: number;
  last: { value: string; found: boolean } | undefined;
}

/**
 * Creates a {@link ReadThroughCache}.
 *
 * @example
 * ```ts
 * const cache = createReadThroughCache({ backend });
 * cache.resume();
 * await cache.get("greeting"); // a miss: read from the store, then cached
 * await cache.get("greeting"); // a hit
 * ```
 */
export function createReadThroughCache(options: ReadThroughCacheOptions): ReadThroughCache {
  const backend = options.backend;
  const defaultTtlMs = options.defaultTtlMs ?? 60_000;
  const maxEntries = options.maxEntries ?? 10_000;
  const now = options.now ?? Date.now;
  if (!(defaultTtlMs > 0)) throw new Error(`defaultTtlMs must be positive, got ${defaultTtlMs}`);
  if (!Number.isInteger(maxEntries) || maxEntries < 1) {
    throw new Error(`maxEntries must be a positive integer, got ${maxEntries}`);
  }

  const entries = new Map<string, Entry>();
  const pending = new Map<string, Pending>();
  let active = false;
  // Bumped whenever the stream goes down or up: reads that straddle it are not cached.
  let generation = 0;
  let hits = 0;
  let misses = 0;

  const begin = (key: string): Pending => {
    let p = pending.get(key);
    if (p === undefined) {
      p = { ops: 0, last: undefined };
      pending.set(key, p);
    }
    p.ops++;
    return p;
  };
  const end = (key: string, p: Pending) => {
    p.ops--;
    if (p.ops === 0 && pending.get(key) === p) pending.delete(key);
  };

  // What the store returned may be cached only if no different value was
  // seen on the stream while the call was in flight.
  const store = (
    key: string,
    p: Pending,
    started: number,
    value: string,
    found: boolean,
    ttlMs: number,
  ) => {
    if (!active || generation !== started) return;
    if (p.last !== undefined && (p.last.value !== value || p.last.found !== found)) return;
    entries.delete(key);
    if (entries.size >= maxEntries) {
      const oldest = entries.keys().next().value;
      if (oldest !== undefined) entries.delete(oldest);
    }
    entries.set(key, { value, found, expiresAt: now() + ttlMs });
  };

  return {
    async get(key) {
      const entry = entries.get(key);
      if (entry !== undefined) {
        if (entry.expiresAt > now()) {
          hits++;
          return { value: entry.value, found: entry.found, fromCache: true };
        }
        entries.delete(key);
      }
      misses++;
      const p = begin(key);
      const started = generation;
      try {
        const res = await backend.get(key);
        store(key, p, started, res.value, res.found, defaultTtlMs);
        return { value: res.value, found: res.found, fromCache: false };
      } finally {
        end(key, p);
      }
    },
    async set(key, value, ttlMs = defaultTtlMs) {
      if (!(ttlMs > 0)) throw new Error(`ttlMs must be positive, got ${ttlMs}`);
      const p = begin(key);
      const started = generation;
      try {
        await backend.put(key, value);
        store(key, p, started, value, true, ttlMs);
      } finally {
        end(key, p);
      }
    },
    stats() {
      return { hits, misses };
    },
    applyChange(change) {
      const seen = { value: change.deleted ? "" : change.value, found: !change.deleted };
      const p = pending.get(change.key);
      if (p !== undefined) p.last = seen;
      const entry = entries.get(change.key);
      if (entry !== undefined && (entry.value !== seen.value || entry.found !== seen.found)) {
        entries.delete(change.key);
      }
    },
    suspend() {
      active = false;
      generation++;
      entries.clear();
    },
    resume() {
      active = true;
      generation++;
    },
    get active() {
      return active;
    },
    get size() {
      return entries.size;
    },
  };
}
