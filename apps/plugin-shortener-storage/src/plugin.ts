import { type Client, Code, ConnectError } from "@connectrpc/connect";
import { LinkStoreService } from "@cpg/examples-proto";
import {
  createJsonLogger,
  type Logger,
  type Plugin,
  type PluginOptions,
  provide,
} from "@cpg/plugin-sdk";
import { Logger as LoggerService } from "@cpg/protocol";
import { createLinkStore, type LinkStore } from "./link-store.js";

export type { LinkStore, LinkStoreOptions, SaveOutcome } from "./link-store.js";
export { createLinkStore } from "./link-store.js";

/** Short codes: 1 to 32 letters and digits. */
const CODE = /^[0-9A-Za-z]{1,32}$/;
/** Longest URL stored, in UTF-8 bytes. */
const MAX_URL_BYTES = 2048;

/**
 * Settings of {@link linkStorePluginOptions}.
 */
export interface LinkStorePluginSettings {
  /** The plugin's self_id. Default: `"shortener-storage"`. */
  readonly selfId?: string;
  /** The plugin's version. Default: `"1.0.0"`. */
  readonly version?: string;
  /** The links to serve. Default: a new {@link createLinkStore} store. */
  readonly store?: LinkStore;
  /** Logger of the plugin itself. Default: JSON lines on stderr, as the SDK's. */
  readonly logger?: Logger;
}

/**
 * Options of the link storage plugin, plus the step that connects its
 * services to the plugin created from them.
 */
export interface LinkStorePluginOptions extends PluginOptions {
  /**
   * Connects the storage to `plugin`, the plugin created from these options:
   * saves are then logged through the host's `logger` capability. Call it
   * once, right after `createPlugin`/`runPlugin`; saves made before are only
   * logged locally.
   */
  attach(plugin: Plugin): void;
}

function checkCode(code: string): void {
  if (!CODE.test(code)) {
    throw new ConnectError(
      `code ${JSON.stringify(code)} must be 1 to 32 letters and digits`,
      Code.InvalidArgument,
    );
  }
}

/**
 * Options of the demo link storage plugin: it provides `LinkStoreService`
 * as service type `"links"`, keeps links in memory, and logs every save
 * through the host's logger capability (`capability.logger.v1.Logger`), so
 * the host records it attributed to this plugin.
 *
 * @example
 * ```ts
 * const options = linkStorePluginOptions();
 * const plugin = await runPlugin(options);
 * options.attach(plugin);
 * ```
 */
export function linkStorePluginOptions(
  settings: LinkStorePluginSettings = {},
): LinkStorePluginOptions {
  const selfId = settings.selfId ?? "shortener-storage";
  const store = settings.store ?? createLinkStore();
  const local = settings.logger ?? createJsonLogger({ base: { plugin: selfId } });
  let hostLogger: Client<typeof LoggerService> | undefined;

  // A save is not undone because the host could not log it.
  const logSaved = async (code: string, url: string) => {
    if (hostLogger === undefined) {
      local.warn("saved (not attached to a plugin: not logged on the host)", { code, url });
      return;
    }
    try {
      await hostLogger.log({ level: "info", message: "saved", fields: { code, url } });
    } catch (error) {
      local.warn("could not log the save through the host", { code, error });
    }
  };

  return {
    selfId,
    version: settings.version ?? "1.0.0",
    services: [
      provide(
        LinkStoreService,
        {
          async save(req) {
            checkCode(req.code);
            const bytes = Buffer.byteLength(req.url);
            if (bytes === 0 || bytes > MAX_URL_BYTES) {
              throw new ConnectError(
                `url must be 1 to ${MAX_URL_BYTES} bytes, got ${bytes}`,
                Code.InvalidArgument,
              );
            }
            switch (store.save(req.code, req.url)) {
              case "taken":
                throw new ConnectError(`code "${req.code}" is taken`, Code.AlreadyExists);
              case "full":
                throw new ConnectError(
                  `the link store is full (${store.size} links)`,
                  Code.ResourceExhausted,
                );
              case "saved":
                await logSaved(req.code, req.url);
                return {};
              case "unchanged":
                return {};
            }
          },
          load(req) {
            checkCode(req.code);
            const url = store.load(req.code);
            return url === undefined ? { url: "", found: false } : { url, found: true };
          },
        },
        { type: "links" },
      ),
    ],
    metadata: { demo: "shortener" },
    ...(settings.logger ? { logger: settings.logger } : {}),
    attach(plugin) {
      hostLogger = plugin.capability(LoggerService, { reason: "log saved links" });
    },
  };
}
