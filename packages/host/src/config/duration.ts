import { HostError } from "../host-error.js";

const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * Parses a duration such as `"500ms"`, `"30s"`, `"15m"`, `"24h"` or `"7d"`
 * (or a number of milliseconds) into milliseconds. Throws an `Error` naming
 * `field` when the value is not a positive duration.
 */
export function parseDuration(value: unknown, field: string): number {
  if (typeof value === "number" && Number.isFinite(value) && value > 0) return value;
  if (typeof value === "string") {
    const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(value.trim());
    if (m) {
      const ms = Number(m[1]) * units[m[2]!]!;
      if (ms > 0) return ms;
    }
  }
  throw new HostError(
    "invalid_config",
    `${field} must be a positive duration such as "30s", "15m" or "24h", got ${JSON.stringify(value)}`,
  );
}
