/**
 * Counts open streams per key within one process.
 *
 * @private
 */
export interface StreamSlots {
  /** Takes a slot for `key` unless `max` are taken; returns whether it did. */
  acquire(key: string, max: number): boolean;
  /** Gives back a slot taken by `acquire`. */
  release(key: string): void;
  /** Open streams of `key`. */
  count(key: string): number;
}

/**
 * Creates an empty {@link StreamSlots}. Keys without open streams are
 * removed, so memory is bounded by the number of open streams.
 *
 * @private
 */
export function createStreamSlots(): StreamSlots {
  const open = new Map<string, number>();
  return {
    acquire(key, max) {
      const current = open.get(key) ?? 0;
      if (current >= max) return false;
      open.set(key, current + 1);
      return true;
    },
    release(key) {
      const current = open.get(key) ?? 0;
      if (current <= 1) open.delete(key);
      else open.set(key, current - 1);
    },
    count: (key) => open.get(key) ?? 0,
  };
}
