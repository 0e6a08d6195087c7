import { type Client, Code, ConnectError } from "@connectrpc/connect";
import { LinkStoreService, ShortenerService } from "@cpg/examples-proto";
import { type Logger, type Plugin, type PluginOptions, provide } from "@cpg/plugin-sdk";
import { relayError } from "./relay-error.js";
import { shortCode } from "./short-code.js";

export { BASE62, shortCode } from "./short-code.js";

const CODE = /^[0-9A-Za-z]{1,32}$/;
/** Longest URL accepted, in UTF-8 bytes. */
const MAX_URL_BYTES = 2048;

/**
 * Settings of {@link shortenerPluginOptions}.
 */
export interface ShortenerPluginSettings {
  /** The plugin's self_id. Default: `"shortener-api"`. */
  readonly selfId?: string;
  /** The plugin's version. Default: `"1.0.0"`. */
  readonly version?: string;
  /**
   * Public base URL of the short links: `short_url` is `<publicUrl>/s/<code>`.
   * Default: `PUBLIC_URL` from the environment, else `""` (a relative URL).
   */
  readonly publicUrl?: string;
  /** Makes a new code. Default: {@link shortCode} (7 random base62 characters). */
  readonly generateCode?: () => string;
  /** Codes tried before giving up when they are all taken. Default: 5. */
  readonly maxAttempts?: number;
  /** Logger of the plugin. Default: the SDK's (JSON lines on stderr). */
  readonly logger?: Logger;
}

/**
 * Options of the shortener API plugin, plus the step that connects its
 * services to the plugin created from them.
 */
export interface ShortenerPluginOptions extends PluginOptions {
  /**
   * Connects the API to `plugin`, the plugin created from these options:
   * links are saved and loaded through it, via the host's router, at the
   * `"links"` provider. Call it once, right after `createPlugin`/`runPlugin`;
   * until then the API answers `unavailable`.
   */
  attach(plugin: Plugin): void;
}

function checkUrl(url: string): void {
  const bytes = Buffer.byteLength(url);
  if (bytes > MAX_URL_BYTES) {
    throw new ConnectError(
      `url too long: ${bytes} bytes (max: ${MAX_URL_BYTES})`,
      Code.InvalidArgument,
    );
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConnectError(
      `url ${JSON.stringify(url)} is not an absolute URL`,
      Code.InvalidArgument,
    );
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new ConnectError(
      `url must use http or https, got ${JSON.stringify(parsed.protocol.slice(0, -1))}`,
      Code.InvalidArgument,
    );
  }
}

/**
 * Options of the demo URL shortener API plugin: it provides
 * `ShortenerService` as service type `"shortener"` and requires `"links"`.
 * `Shorten` draws random base62 codes and saves them through the links
 * provider, drawing again when a code is taken; `Resolve` loads them.
 *
 * @example
 * ```ts
 * const options = shortenerPluginOptions({ publicUrl: "https://sho.rt" });
 * const plugin = await runPlugin(options);
 * options.attach(plugin);
 * ```
 */
export function shortenerPluginOptions(
  settings: ShortenerPluginSettings = {},
): ShortenerPluginOptions {
  const publicUrl = (settings.publicUrl ?? process.env.PUBLIC_URL ?? "").replace(/\/+$/, "");
  const generateCode = settings.generateCode ?? (() => shortCode());
  const maxAttempts = settings.maxAttempts ?? 5;
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1) {
    throw new Error(`maxAttempts must be a positive integer, got ${maxAttempts}`);
  }
  let links: Client<typeof LinkStoreService> | undefined;
  const linksClient = () => {
    if (links === undefined) {
      throw new ConnectError("the shortener is not ready yet", Code.Unavailable);
    }
    return links;
  };

  return {
    selfId: settings.selfId ?? "shortener-api",
    version: settings.version ?? "1.0.0",
    services: [
      provide(
        ShortenerService,
        {
          async shorten(req) {
            checkUrl(req.url);
            const store = linksClient();
            for (let attempt = 1; attempt <= maxAttempts; attempt++) {
              const code = generateCode();
              try {
                await store.save({ code, url: req.url });
              } catch (error) {
                // Someone holds this code: draw another one.
                if (ConnectError.from(error).code === Code.AlreadyExists) continue;
                relayError(error);
              }
              return { code, shortUrl: `${publicUrl}/s/${code}` };
            }
            throw new ConnectError(
              `no free short code after ${maxAttempts} attempts`,
              Code.ResourceExhausted,
            );
          },
          async resolve(req) {
            if (!CODE.test(req.code)) {
              throw new ConnectError(
                `code ${JSON.stringify(req.code)} must be 1 to 32 letters and digits`,
                Code.InvalidArgument,
              );
            }
            const res = await linksClient().load({ code: req.code }).catch(relayError);
            if (!res.found) {
              throw new ConnectError(`no link with code "${req.code}"`, Code.NotFound);
            }
            return { url: res.url };
          },
        },
        { type: "shortener" },
      ),
    ],
    requires: [{ type: "links", requiredForStartup: true }],
    metadata: { demo: "shortener" },
    ...(settings.logger ? { logger: settings.logger } : {}),
    attach(plugin) {
      links = plugin.client(LinkStoreService, { type: "links" });
    },
  };
}
