import { Code } from "@connectrpc/connect";
import { PluginError } from "../plugin-error.js";

/**
 * Checks that `value` is an integer `>= min` and returns it.
 * `where` names the factory in messages, e.g. `createRetryInterceptor`.
 *
 * @private
 */
export function validateInteger(where: string, name: string, value: number, min: number): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min) {
    throw new PluginError(
      "invalid_config",
      `${where}: ${name} must be an integer >= ${min}, got ${String(value)}`,
    );
  }
  return value;
}

/**
 * Checks that `value` is a function and returns it.
 *
 * @private
 */
export function validateFunction<T>(where: string, name: string, value: T): T {
  if (typeof value !== "function") {
    throw new PluginError(
      "invalid_config",
      `${where}: ${name} must be a function, got ${typeof value}`,
    );
  }
  return value;
}

/**
 * Checks a list of error codes (non-empty, each a `Code` other than `OK`)
 * and returns them as a new set.
 *
 * @private
 */
export function validateCodes(where: string, name: string, codes: readonly Code[]): Set<Code> {
  if (!Array.isArray(codes) || codes.length === 0) {
    throw new PluginError(
      "invalid_config",
      `${where}: ${name} must be a non-empty array of Code values, got ${JSON.stringify(codes)}`,
    );
  }
  for (const code of codes) {
    if (typeof code !== "number" || Code[code] === undefined) {
      throw new PluginError(
        "invalid_config",
        `${where}: ${name} must only hold Code values from @connectrpc/connect (1 to 16), got ${String(code)}`,
      );
    }
  }
  return new Set(codes);
}
