import { Code, ConnectError } from "@connectrpc/connect";

/**
 * One change of a key, as watchers see it.
 */
export interface KvChange {
  /** The key that changed. */
  readonly key: string;
  /** The new value (`""` when deleted). */
  readonly value: string;
  /** Whether the key was deleted. */
  readonly deleted: boolean;
}

/**
 * Options of {@link createKvStore}.
 */
export interface KvStoreOptions {
  /**
   * Changes a watcher may have waiting before it is cut off with
   * `resource_exhausted` (it must then watch again and re-read). Default: 1024.
   */
  readonly watchBufferSize?: number;
}

/**
 * An in-memory key-value store whose changes can be watched.
 */
export interface KvStore {
  /** Reads a key. */
  get(key: string): { value: string; found: boolean };
  /** Writes a key and tells the watchers. */
  put(key: string, value: string): void;
  /** Removes a key and tells the watchers; false when it did not exist. */
  delete(key: string): boolean;
  /**
   * Changes of keys starting with `prefix` (`""` = all keys), as they happen.
   * The iterable ends when `signal` aborts or the store closes, and fails
   * with `resource_exhausted` when the consumer falls more than
   * `watchBufferSize` changes behind.
   */
  watch(prefix: string, signal?: AbortSignal): AsyncIterable<KvChange>;
  /** Watchers currently registered. */
  readonly watcherCount: number;
  /** Ends every watch; later watches end at once. Reads and writes keep working. */
  close(): void;
}

interface Watcher {
  readonly prefix: string;
  readonly queue: KvChange[];
  overflowed: boolean;
  wake: (() => void) | undefined;
}

/**
 * Creates a {@link KvStore}.
 *
 * @example
 * ```ts
 * const store = createKvStore();
 * const changes = store.watch("user/", signal);
 * store.put("user/1", "ada");
 * ```
 */
export function createKvStore(options: KvStoreOptions = {}): KvStore {
  const bufferSize = options.watchBufferSize ?? 1024;
  if (!Number.isInteger(bufferSize) || bufferSize < 1) {
    throw new Error(`watchBufferSize must be a positive integer, got ${bufferSize}`);
  }
  const data = new Map<string, string>();
  const watchers = new Set<Watcher>();
  let closed = false;

  const notify = (change: KvChange) => {
    for (const w of watchers) {
      if (w.overflowed || !change.key.startsWith(w.prefix)) continue;
      if (w.queue.length >= bufferSize) {
        // A slow consumer must not make the store hold unbounded memory: cut it off.
        w.overflowed = true;
        w.queue.length = 0;
      } else {
        w.queue.push(change);
      }
      w.wake?.();
    }
  };

  return {
    get(key) {
      const value = data.get(key);
      return value === undefined ? { value: "", found: false } : { value, found: true };
    },
    put(key, value) {
      data.set(key, value);
      notify({ key, value, deleted: false });
    },
    delete(key) {
      if (!data.delete(key)) return false;
      notify({ key, value: "", deleted: true });
      return true;
    },
    async *watch(prefix, signal) {
      const w: Watcher = { prefix, queue: [], overflowed: false, wake: undefined };
      const onAbort = () => w.wake?.();
      signal?.addEventListener("abort", onAbort);
      watchers.add(w);
      try {
        for (;;) {
          if (closed || signal?.aborted) return;
          if (w.overflowed) {
            throw new ConnectError(
              `watcher fell behind: more than ${bufferSize} changes waiting; watch again`,
              Code.ResourceExhausted,
            );
          }
          const next = w.queue.shift();
          if (next !== undefined) {
            yield next;
            continue;
          }
          await new Promise<void>((resolve) => {
            w.wake = resolve;
          });
          w.wake = undefined;
        }
      } finally {
        watchers.delete(w);
        signal?.removeEventListener("abort", onAbort);
      }
    },
    get watcherCount() {
      return watchers.size;
    },
    close() {
      closed = true;
      for (const w of watchers) w.wake?.();
    },
  };
}
