/**
 * What {@link ReplayCache.claim} found: `"claimed"` (first use, now
 * recorded), `"replayed"` (already recorded and not expired) or `"evicted"`
 * (older than an entry the full cache had to evict, so a replay could no
 * longer be detected).
 * @private
 */
export type ReplayClaim = "claimed" | "replayed" | "evicted";

/**
 * A bounded set of recently used nonces, each remembered until it expires.
 * @private
 */
export interface ReplayCache {
  /**
   * Records `id`, used by a request made at `timestamp` and replayable until
   * `expiresAt` (inclusive), at time `now`. All in Unix milliseconds.
   */
  claim(id: string, timestamp: number, expiresAt: number, now: number): ReplayClaim;
  /** How many nonces are remembered. */
  readonly size: number;
}

/**
 * Creates a {@link ReplayCache} of at most `maxEntries` nonces.
 *
 * When full of unexpired nonces it evicts the oldest and, to stay safe,
 * refuses from then on every request made at or before that nonce's
 * timestamp: their nonces might have been evicted too. Fresh requests keep
 * passing; only old ones (typically from skewed clocks) are refused while the
 * cache is overloaded.
 * @private
 */
export function createReplayCache(maxEntries: number): ReplayCache {
  const entries = new Map<string, { timestamp: number; expiresAt: number }>();
  let floor = Number.NEGATIVE_INFINITY;

  const pruneFront = (now: number) => {
    // Insertion order is roughly expiry order: drop expired entries from the
    // front, stop at the first live one.
    for (const [id, entry] of entries) {
      if (entry.expiresAt >= now) return;
      entries.delete(id);
    }
  };
  const sweep = (now: number) => {
    for (const [id, entry] of entries) {
      if (entry.expiresAt < now) entries.delete(id);
    }
  };

  const cache: Omit<ReplayCache, "size"> = {
    claim(id, timestamp, expiresAt, now) {
      pruneFront(now);
      if (timestamp <= floor) return "evicted";
      const existing = entries.get(id);
      if (existing !== undefined && existing.expiresAt >= now) return "replayed";
      entries.delete(id);
      if (entries.size >= maxEntries) sweep(now);
      while (entries.size >= maxEntries) {
        const [oldestId, oldest] = entries.entries().next().value!;
        entries.delete(oldestId);
        floor = Math.max(floor, oldest.timestamp);
      }
      if (timestamp <= floor) return "evicted";
      entries.set(id, { timestamp, expiresAt });
      return "claimed";
    },
  };
  // Not a getter in the literal: V8 keeps object literals with accessors in
  // slow dictionary mode, and every method call would pay for that.
  return Object.defineProperty(cache, "size", {
    get: () => entries.size,
    enumerable: true,
  }) as ReplayCache;
}
