import { KVService } from "@cpg/examples-proto";
import { type Logger, type PluginOptions, provide } from "@cpg/plugin-sdk";
import { createKvService } from "./kv-service.js";
import { createKvStore, type KvStore } from "./kv-store.js";

export type { KvChange, KvStore, KvStoreOptions } from "./kv-store.js";
export { createKvStore } from "./kv-store.js";

/**
 * Settings of {@link kvPluginOptions}.
 */
export interface KvPluginSettings {
  /** The plugin's self_id. Default: `"kv-store"`. */
  readonly selfId?: string;
  /** The plugin's version. Default: `"1.0.0"`. */
  readonly version?: string;
  /** The store to serve. Default: a new {@link createKvStore} store. */
  readonly store?: KvStore;
  /** Logger of the plugin. Default: the SDK's (JSON lines on stderr). */
  readonly logger?: Logger;
}

/**
 * Options of the demo key-value plugin: it provides `KVService` as service
 * type `"kv"`, kept in memory, with a streaming `Watch`. Pass them to
 * `runPlugin` or `createPlugin`, or to a host that runs plugins in memory.
 *
 * @example
 * ```ts
 * const store = createKvStore();
 * const plugin = createPlugin(kvPluginOptions({ store }));
 * ```
 */
export function kvPluginOptions(settings: KvPluginSettings = {}): PluginOptions {
  const store = settings.store ?? createKvStore();
  return {
    selfId: settings.selfId ?? "kv-store",
    version: settings.version ?? "1.0.0",
    services: [provide(KVService, createKvService(store), { type: "kv" })],
    metadata: { demo: "kv" },
    // Only when given: a host running the plugin in memory supplies its own.
    ...(settings.logger ? { logger: settings.logger } : {}),
  };
}
