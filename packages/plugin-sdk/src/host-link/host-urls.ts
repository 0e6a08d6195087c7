import { PluginError } from "../plugin-error.js";

/**
 * Reads the host URLs a plugin may join: one URL, a comma-separated list of
 * URLs (as in `HOST_URL=http://a:8080,http://b:8080`), or an array of URLs
 * (each entry one URL). Spaces around entries are trimmed, empty entries
 * dropped, trailing `/` removed, and a URL listed twice is kept once, in its
 * first place. An empty result means "no host".
 *
 * @param source Names where the value came from in error messages
 *   (`"hostUrl"`, `"HOST_URL"`, `"join()"`).
 * @throws PluginError `invalid_config` naming the first entry that is not an
 *   absolute `http://` or `https://` URL.
 * @private
 */
export function parseHostUrls(
  value: string | readonly string[] | undefined,
  source: string,
): string[] {
  if (value === undefined) return [];
  const entries = typeof value === "string" ? value.split(",") : [...value];
  const urls: string[] = [];
  for (const entry of entries) {
    if (typeof entry !== "string") {
      throw new PluginError(
        "invalid_config",
        `${source}: ${String(entry)} is not a URL string; give absolute http:// or https:// URLs`,
      );
    }
    const trimmed = entry.trim();
    if (trimmed === "") continue;
    const url = checkHostUrl(trimmed, source);
    if (!urls.includes(url)) urls.push(url);
  }
  return urls;
}

function checkHostUrl(entry: string, source: string): string {
  let parsed: URL | undefined;
  try {
    parsed = new URL(entry);
  } catch {
    parsed = undefined;
  }
  // "http:host" parses too, but is no base URL to append paths to.
  if (parsed === undefined || !/^https?:\/\/[^/?#]/i.test(entry)) {
    throw new PluginError(
      "invalid_config",
      `${source}: ${JSON.stringify(entry)} is not an absolute http:// or https:// URL`,
    );
  }
  if (parsed.search !== "" || parsed.hash !== "") {
    throw new PluginError(
      "invalid_config",
      `${source}: ${JSON.stringify(entry)} must not have a query or fragment`,
    );
  }
  return entry.replace(/\/+$/, "");
}
