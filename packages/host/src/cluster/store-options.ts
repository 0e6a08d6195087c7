import { HostError } from "../host-error.js";

/**
 * Options of the shared state store of host replicas (`createHost({ store })`).
 */
export interface RedisStoreOptions {
  /** `redis://[user:password@]host:port[/db]`, or `rediss://` for TLS. */
  readonly url: string;
  /**
   * Prefix of every key the host writes; replicas of one platform share it,
   * different platforms on one Redis use different ones. Default: `"cpg"`.
   */
  readonly keyPrefix?: string;
  /**
   * How long a plugin's registrations live without a health report (any
   * replica renews them). A plugin that stops reporting disappears from
   * discovery on every replica after this. Default: 30 000 (30 s); SDK plugins
   * report every 10 s.
   */
  readonly leaseTtlMs?: number;
  /**
   * How long a replica that lost Redis keeps authenticating and routing calls
   * from what it knows; after that routed calls get `unavailable` and `/readyz`
   * turns not ready until Redis is back. Default: 30 000 (30 s).
   */
  readonly maxStaleMs?: number;
  /** Longest wait for one Redis command before the call gets `unavailable`. Default: 1 000. */
  readonly commandTimeoutMs?: number;
}

/**
 * Where a host keeps its state: `"memory"` (the default: one host, nothing
 * shared), a Redis URL, or {@link RedisStoreOptions}.
 */
export type HostStoreOption = "memory" | string | RedisStoreOptions;

/** {@link RedisStoreOptions} with every default applied. */
export type ResolvedRedisStoreOptions = Required<RedisStoreOptions>;

const positiveMs = (name: string, value: number | undefined, fallback: number): number => {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v <= 0) {
    throw new HostError(
      "invalid_config",
      `store.${name} must be a positive integer (milliseconds), got ${String(v)}`,
    );
  }
  return v;
};

/**
 * Validates the `store` option; `undefined` for the in-memory store.
 * Throws `HostError("invalid_config")` naming what is wrong.
 */
export function resolveStoreOption(
  value: HostStoreOption | undefined,
): ResolvedRedisStoreOptions | undefined {
  if (value === undefined || value === "memory") return undefined;
  const options: RedisStoreOptions = typeof value === "string" ? { url: value } : value;
  if (typeof options !== "object" || options === null || typeof options.url !== "string") {
    throw new HostError(
      "invalid_config",
      'store must be "memory", a redis:// URL or { url: "redis://..." }',
    );
  }
  let url: URL;
  try {
    url = new URL(options.url);
  } catch {
    throw new HostError(
      "invalid_config",
      `store must be "memory" or a redis:// or rediss:// URL, got ${JSON.stringify(options.url)}`,
    );
  }
  if (url.protocol !== "redis:" && url.protocol !== "rediss:") {
    throw new HostError(
      "invalid_config",
      `store URL must start with redis:// or rediss://, got ${url.protocol}//`,
    );
  }
  const keyPrefix = options.keyPrefix ?? "cpg";
  if (typeof keyPrefix !== "string" || !/^[A-Za-z0-9_.:{}-]{1,64}$/.test(keyPrefix)) {
    throw new HostError(
      "invalid_config",
      `store.keyPrefix must be 1 to 64 characters of letters, digits and _ . : { } -, got ${JSON.stringify(keyPrefix)}`,
    );
  }
  return {
    url: options.url,
    keyPrefix,
    leaseTtlMs: positiveMs("leaseTtlMs", options.leaseTtlMs, 30_000),
    maxStaleMs: positiveMs("maxStaleMs", options.maxStaleMs, 30_000),
    commandTimeoutMs: positiveMs("commandTimeoutMs", options.commandTimeoutMs, 1_000),
  };
}

/** The store URL without its password, for messages and logs. */
export function redactStoreUrl(value: string): string {
  try {
    const url = new URL(value);
    if (url.password !== "") url.password = "***";
    return url.toString();
  } catch {
    return "(unparsable URL)";
  }
}
