import { compileHostAllowList, type HostAllowList } from "./host-allow-list.js";
import { DEFAULT_VALIDATION_LIMITS, type ValidationLimits } from "./validation-limits.js";

/**
 * Options of every validator, of {@link validateMessage} and of
 * {@link createValidationInterceptor}. Never mutated.
 */
export interface ValidationOptions {
  /**
   * Limits to override; the others keep their defaults.
   * Default: {@link DEFAULT_VALIDATION_LIMITS} (the wire contract's values).
   */
  readonly limits?: Partial<ValidationLimits>;
  /**
   * Hosts a registration's `base_url` may point to: host names (exact,
   * case-insensitive), IPv4/IPv6 addresses or CIDR blocks (`10.0.0.0/8`,
   * `fd00::/8`). An empty list allows no host.
   * Default: `undefined`, any host.
   */
  readonly allowedHosts?: readonly string[];
}

/**
 * Options with every default applied and the allow-list compiled.
 *
 * @private
 */
export interface ResolvedValidationOptions {
  readonly limits: Readonly<ValidationLimits>;
  readonly allowedHosts: readonly string[] | undefined;
  readonly allows: HostAllowList | undefined;
}

const resolvedObjects = new WeakSet<object>();

/**
 * Applies the defaults to `options` into a new frozen object, checking the
 * configuration. Returns `options` itself when it is already resolved, so
 * that validators called with resolved options do no work.
 *
 * @throws TypeError saying what to change when a limit is not a non-negative
 * integer, a limit name is unknown or an allow-list entry is malformed.
 * @private
 */
export function resolveValidationOptions(
  options: ValidationOptions | ResolvedValidationOptions | undefined,
): ResolvedValidationOptions {
  if (options !== undefined && resolvedObjects.has(options)) {
    return options as ResolvedValidationOptions;
  }
  if (options === undefined) {
    return DEFAULT_RESOLVED;
  }
  if (typeof options !== "object" || options === null) {
    throw new TypeError("validation options must be an object, e.g. { limits: { ... } }");
  }
  if (
    options.limits !== undefined &&
    (typeof options.limits !== "object" || options.limits === null)
  ) {
    throw new TypeError(
      "validation option limits must be an object, e.g. { maxMetadataEntries: 50 }",
    );
  }
  if (options.allowedHosts !== undefined && !Array.isArray(options.allowedHosts)) {
    throw new TypeError(
      'validation option allowedHosts must be an array, e.g. ["plugins.internal", "10.0.0.0/8"]',
    );
  }
  const limits: Record<string, number> = { ...DEFAULT_VALIDATION_LIMITS };
  for (const [name, value] of Object.entries(options.limits ?? {})) {
    if (!Object.hasOwn(DEFAULT_VALIDATION_LIMITS, name)) {
      throw new TypeError(
        `unknown validation limit "${name}"; known limits: ${Object.keys(DEFAULT_VALIDATION_LIMITS).join(", ")}`,
      );
    }
    if (value === undefined) {
      continue;
    }
    if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
      throw new TypeError(
        `validation limit ${name} must be a non-negative integer, got ${String(value)}`,
      );
    }
    limits[name] = value;
  }
  const allowedHosts =
    options.allowedHosts === undefined ? undefined : Object.freeze([...options.allowedHosts]);
  return freeze({
    limits: Object.freeze(limits as unknown as ValidationLimits),
    allowedHosts,
    allows: allowedHosts === undefined ? undefined : compileHostAllowList(allowedHosts),
  });
}

function freeze(resolved: ResolvedValidationOptions): ResolvedValidationOptions {
  Object.freeze(resolved);
  resolvedObjects.add(resolved);
  return resolved;
}

const DEFAULT_RESOLVED = freeze({
  limits: DEFAULT_VALIDATION_LIMITS,
  allowedHosts: undefined,
  allows: undefined,
});
