/**
 * Options of {@link createLinkStore}.
 */
export interface LinkStoreOptions {
  /** Most links held. Default: 100,000. */
  readonly maxLinks?: number;
}

/** What {@link LinkStore.save} did. */
export type SaveOutcome = "saved" | "unchanged" | "taken" | "full";

/**
 * The shortener's links, in memory: short code -> URL. A code, once saved,
 * never changes its URL.
 */
export interface LinkStore {
  /**
   * Saves `url` under `code`: `"saved"`, `"unchanged"` (the code already
   * holds this URL), `"taken"` (it holds another URL) or `"full"`.
   */
  save(code: string, url: string): SaveOutcome;
  /** The URL saved under `code`, or `undefined`. */
  load(code: string): string | undefined;
  /** Links held. */
  readonly size: number;
}

/**
 * Creates a {@link LinkStore}.
 *
 * @example
 * ```ts
 * const links = createLinkStore();
 * links.save("aZ3kQ9x", "https://example.com/");
 * links.load("aZ3kQ9x"); // "https://example.com/"
 * ```
 */
export function createLinkStore(options: LinkStoreOptions = {}): LinkStore {
  const maxLinks = options.maxLinks ?? 100_000;
  if (!Number.isInteger(maxLinks) || maxLinks < 1) {
    throw new Error(`maxLinks must be a positive integer, got ${maxLinks}`);
  }
  const links = new Map<string, string>();
  return {
    save(code, url) {
      const existing = links.get(code);
      if (existing !== undefined) return existing === url ? "unchanged" : "taken";
      if (links.size >= maxLinks) return "full";
      links.set(code, url);
      return "saved";
    },
    load(code) {
      return links.get(code);
    },
    get size() {
      return links.size;
    },
  };
}
