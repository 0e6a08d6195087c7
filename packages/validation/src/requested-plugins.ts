import { checkMaxBytes, checkMaxEntries, checkNoNul, checkString } from "./field-checks.js";
import { ValidationError } from "./validation-error.js";
import type { ResolvedValidationOptions } from "./validation-options.js";

/**
 * Checks a handshake's `requested_plugins`: at most
 * `limits.maxRequestedPlugins` entries (default 100), each at most
 * `limits.maxRequestedPluginBytes` UTF-8 bytes (default 128) without NUL
 * bytes. Names are otherwise free: hosts ignore the ones they do not know.
 *
 * @throws ValidationError with field `requested_plugins`, e.g.
 * `requested plugin list has too many entries: 101 (max: 100)`.
 * @private
 */
export function checkRequestedPlugins(
  plugins: readonly string[],
  { limits }: ResolvedValidationOptions,
): void {
  const field = "requested_plugins";
  if (!Array.isArray(plugins)) {
    throw new ValidationError("requested plugin list must be a list of strings", {
      field,
      code: "invalid_format",
    });
  }
  checkMaxEntries(plugins.length, limits.maxRequestedPlugins, {
    field,
    label: "requested plugin list",
  });
  const ref = { field, label: "requested plugin" };
  for (const plugin of plugins) {
    checkString(plugin, ref);
    checkMaxBytes(plugin, limits.maxRequestedPluginBytes, ref);
    checkNoNul(plugin, ref);
  }
}
