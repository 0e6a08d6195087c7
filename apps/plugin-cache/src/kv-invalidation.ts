import { setTimeout as delay } from "node:timers/promises";
import type { Logger } from "@cpg/plugin-sdk";
import type { KvChangeEvent, ReadThroughCache } from "./read-through-cache.js";

/**
 * Options of {@link startKvInvalidation}.
 */
export interface KvInvalidationOptions {
  /** The cache to keep coherent. */
  readonly cache: ReadThroughCache;
  /** Opens the store's change stream (all keys); it must end when `signal` aborts. */
  readonly watch: (signal: AbortSignal) => AsyncIterable<KvChangeEvent>;
  /** Resolves once the stream can be opened (the plugin has joined its host). */
  readonly ready: (signal: AbortSignal) => Promise<void>;
  /** Where failures of the stream are logged. */
  readonly logger: Logger;
  /** First wait before opening the stream again, in ms; doubles up to `maxBackoffMs`. Default: 100. */
  readonly initialBackoffMs?: number;
  /** Longest wait before opening the stream again, in ms. Default: 2,000. */
  readonly maxBackoffMs?: number;
}

/**
 * The running loop of {@link startKvInvalidation}.
 */
export interface KvInvalidation {
  /** Changes applied to the cache since the start. */
  readonly changesSeen: number;
  /** Stops watching; the cache is suspended (holds nothing). */
  stop(): void;
}

/**
 * Keeps a {@link ReadThroughCache} coherent with the key-value store: it
 * watches every key and drops the entries that change. While the stream is
 * down (the store restarted, the host is away) the cache is suspended; the
 * stream is opened again with exponential backoff.
 *
 * One window remains: the store registers the watch a moment after the
 * cache resumes, and a write in that moment is only caught by the entry's
 * TTL.
 */
export function startKvInvalidation(options: KvInvalidationOptions): KvInvalidation {
  const { cache, logger } = options;
  const initialBackoffMs = options.initialBackoffMs ?? 100;
  const maxBackoffMs = options.maxBackoffMs ?? 2_000;
  const stopped = new AbortController();
  const signal = stopped.signal;
  let changesSeen = 0;

  const run = async () => {
    let backoffMs = initialBackoffMs;
    let failures = 0;
    while (!signal.aborted) {
      await options.ready(signal);
      if (signal.aborted) break;
      try {
        cache.resume();
        for await (const change of options.watch(signal)) {
          cache.applyChange(change);
          changesSeen++;
          backoffMs = initialBackoffMs;
          failures = 0;
        }
        // The store ended the stream (it is stopping): open it again.
        cache.suspend();
      } catch (error) {
        cache.suspend();
        if (signal.aborted) break;
        failures++;
        // The first failure in a row is news; the retries that follow are not.
        const log = failures === 1 ? logger.warn : logger.debug;
        log.call(logger, "kv watch failed; cache suspended until it is back", {
          error,
          retry_in_ms: backoffMs,
        });
      }
      try {
        await delay(backoffMs, undefined, { signal });
      } catch {
        break; // stopped
      }
      backoffMs = Math.min(backoffMs * 2, maxBackoffMs);
    }
    cache.suspend();
  };
  void run().catch((error: unknown) => logger.error("kv watch loop crashed", { error }));

  return {
    get changesSeen() {
      return changesSeen;
    },
    stop() {
      stopped.abort();
    },
  };
}
