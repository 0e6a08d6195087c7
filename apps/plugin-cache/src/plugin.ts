import { type Client, Code, ConnectError } from "@connectrpc/connect";
import { CacheService, KVService } from "@cpg/examples-proto";
import {
  createJsonLogger,
  type Logger,
  type Plugin,
  type PluginOptions,
  provide,
} from "@cpg/plugin-sdk";
import { type KvInvalidation, startKvInvalidation } from "./kv-invalidation.js";
import { createReadThroughCache, type KvBackend } from "./read-through-cache.js";
import { relayError } from "./relay-error.js";

export type { KvInvalidation } from "./kv-invalidation.js";
export type { CachedRead, KvBackend, ReadThroughCache } from "./read-through-cache.js";

/**
 * Settings of {@link cachePluginOptions}.
 */
export interface CachePluginSettings {
  /** The plugin's self_id. Default: `"cache"`. */
  readonly selfId?: string;
  /** The plugin's version. Default: `"1.0.0"`. */
  readonly version?: string;
  /** TTL of entries when `Set` gives none and of entries read through, in seconds. Default: 60. */
  readonly defaultTtlSeconds?: number;
  /** Most entries held. Default: 10,000. */
  readonly maxEntries?: number;
  /** Logger of the plugin. Default: JSON lines on stderr, as the SDK's. */
  readonly logger?: Logger;
  /** Clock, Unix milliseconds. Default: `Date.now`. */
  readonly now?: () => number;
}

/**
 * Options of the cache plugin, plus the step that connects its services to
 * the plugin created from them.
 */
export interface CachePluginOptions extends PluginOptions {
  /**
   * Connects the cache to `plugin`, the plugin created from these options:
   * reads go through it to the `"kv"` provider, and once it has joined a host
   * it watches kv to keep the cache coherent. Call it once, right after
   * `createPlugin`/`runPlugin`; until then the cache answers `unavailable`.
   * Returns a function that stops the watch (call it before `plugin.close()`).
   */
  attach(plugin: Plugin): () => void;
}

/** Longest TTL a caller may ask for: one day. */
const MAX_TTL_SECONDS = 86_400;

/**
 * Options of the demo cache plugin: it provides `CacheService` as service
 * type `"cache"` and requires `"kv"`. Reads go through to kv (via the host's
 * router) and are cached in memory with a TTL; kv's `Watch` stream drops
 * entries that change. Hits and misses are counted.
 *
 * @example
 * ```ts
 * const options = cachePluginOptions();
 * const plugin = await runPlugin(options);
 * options.attach(plugin);
 * ```
 */
export function cachePluginOptions(settings: CachePluginSettings = {}): CachePluginOptions {
  const selfId = settings.selfId ?? "cache";
  const defaultTtlSeconds = settings.defaultTtlSeconds ?? 60;
  const logger = settings.logger ?? createJsonLogger({ base: { plugin: selfId } });
  let kv: KvClient | undefined;
  const kvClient = (): KvClient => {
    if (kv === undefined) throw new ConnectError("the cache is not ready yet", Code.Unavailable);
    return kv;
  };
  const backend: KvBackend = {
    get: (key) => kvClient().get({ key }).catch(relayError),
    async put(key, value) {
      await kvClient().put({ key, value }).catch(relayError);
    },
  };
  const cache = createReadThroughCache({
    backend,
    defaultTtlMs: defaultTtlSeconds * 1000,
    ...(settings.maxEntries !== undefined ? { maxEntries: settings.maxEntries } : {}),
    ...(settings.now ? { now: settings.now } : {}),
  });

  const checkKey = (key: string) => {
    if (key === "") throw new ConnectError("key must not be empty", Code.InvalidArgument);
  };

  return {
    selfId,
    version: settings.version ?? "1.0.0",
    services: [
      provide(
        CacheService,
        {
          async get(req) {
            checkKey(req.key);
            return cache.get(req.key);
          },
          async set(req) {
            checkKey(req.key);
            if (req.ttlSeconds < 0 || req.ttlSeconds > MAX_TTL_SECONDS) {
              throw new ConnectError(
                `ttl_seconds must be from 0 (the default of ${defaultTtlSeconds}) to ${MAX_TTL_SECONDS}, got ${req.ttlSeconds}`,
                Code.InvalidArgument,
              );
            }
            await cache.set(req.key, req.value, (req.ttlSeconds || defaultTtlSeconds) * 1000);
            return {};
          },
          stats() {
            const { hits, misses } = cache.stats();
            return { hits: BigInt(hits), misses: BigInt(misses) };
          },
        },
        { type: "cache" },
      ),
    ],
    requires: [{ type: "kv", requiredForStartup: true }],
    metadata: { demo: "cache" },
    ...(settings.logger ? { logger: settings.logger } : {}),
    attach(plugin) {
      const client = kvClientOf(plugin);
      kv = client;
      const invalidation: KvInvalidation = startKvInvalidation({
        cache,
        logger,
        watch: (signal) => client.watch({ prefix: "" }, { signal }),
        ready: (signal) => joined(plugin, signal),
      });
      return () => invalidation.stop();
    },
  };
}

type KvClient = Client<typeof KVService>;

function kvClientOf(plugin: Plugin): KvClient {
  return plugin.client(KVService, { type: "kv" });
}

/** Resolves once `plugin` has a runtime identity, or when `signal` aborts. */
function joined(plugin: Plugin, signal: AbortSignal): Promise<void> {
  if (plugin.credentials !== undefined || signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      unsubscribe();
      signal.removeEventListener("abort", done);
      resolve();
    };
    const unsubscribe = plugin.identityChanges.subscribe(done);
    signal.addEventListener("abort", done);
  });
}
