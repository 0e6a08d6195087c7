import type { Logger } from "@cpg/plugin-sdk";

/**
 * Environment variable that silences the plaintext warning; the name is the
 * one connect-plugin-go uses. Values `1`, `true` and `yes` (any case) silence it.
 */
export const DISABLE_TLS_WARNING_ENV = "CONNECTPLUGIN_DISABLE_TLS_WARNING";

let warned = false;

/**
 * Logs, once per process, that the host serves plaintext: runtime tokens and
 * capability grants then travel unencrypted.
 */
export function warnPlaintextOnce(logger: Logger, url: string, env = process.env): void {
  const value = (env[DISABLE_TLS_WARNING_ENV] ?? "").toLowerCase();
  if (warned || value === "1" || value === "true" || value === "yes") return;
  warned = true;
  logger.warn(
    "serving without TLS: runtime tokens and capability grants travel in plaintext; configure tls, or set CONNECTPLUGIN_DISABLE_TLS_WARNING=1 to silence this warning",
    { url },
  );
}

/**
 * Resets the once-per-process state (tests only).
 * @private
 */
export function resetPlaintextWarning(): void {
  warned = false;
}
