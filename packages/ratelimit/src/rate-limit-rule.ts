import { RateLimitError } from "./rate-limit-error.js";
import type { TokenBucketLimit } from "./rate-limit-store.js";
import { validateCount, validateLimit } from "./validate.js";

/**
 * Selects procedures by their path `"/<package>.<Service>/<Method>"`:
 *
 * - a string: that exact procedure, or, when it ends with `/`, every method
 *   of that service (`"/connectplugin.v1.ServiceRegistry/"`);
 * - a `RegExp` tested against the path (without the `g` or `y` flag);
 * - a predicate.
 */
export type ProcedureMatcher = string | RegExp | ((procedure: string) => boolean);

/**
 * The limits applied to each caller of the procedures a rule matches.
 */
export interface RateLimitLimits extends TokenBucketLimit {
  /**
   * Most streams (client, server or bidi streaming calls) one caller may have
   * open at once on the matched procedures. Counted per process, also with a
   * shared store. Default: `Infinity` (only stream starts are rate limited).
   */
  maxConcurrentStreams?: number;
}

/**
 * One per-procedure rule of `createRateLimitInterceptor`. Rules are tried in
 * order; the first match wins.
 */
export interface RateLimitRule extends RateLimitLimits {
  /** Which procedures the rule covers. */
  match: ProcedureMatcher;
  /**
   * Name of the rule's buckets, part of every store key: keep it stable
   * across replicas that share a store. Must not contain `|`. Default: the
   * string `match`, else `"rule-<index>"`.
   */
  name?: string;
}

/**
 * Name of the buckets of `defaultRule`.
 *
 * @private
 */
export const DEFAULT_RULE_NAME = "default";

/**
 * A validated rule with defaults resolved.
 *
 * @private
 */
export interface ResolvedRule {
  readonly name: string;
  /** `name + "|"`, prepended to caller keys. */
  readonly prefix: string;
  readonly limit: TokenBucketLimit;
  readonly maxConcurrentStreams: number;
  readonly matches: (procedure: string) => boolean;
}

function matcherOf(where: string, match: ProcedureMatcher): (procedure: string) => boolean {
  if (typeof match === "string") {
    if (!match.startsWith("/")) {
      throw new RateLimitError(
        "invalid_option",
        `${where}: a string match is a procedure path like "/package.Service/Method" or a service prefix like "/package.Service/", got "${match}"`,
      );
    }
    return match.endsWith("/") ? (p) => p.startsWith(match) : (p) => p === match;
  }
  if (match instanceof RegExp) {
    if (match.global || match.sticky) {
      throw new RateLimitError(
        "invalid_option",
        `${where}: remove the g and y flags from ${String(match)}; they make RegExp.test stateful`,
      );
    }
    return (p) => match.test(p);
  }
  if (typeof match === "function") return match;
  throw new RateLimitError(
    "invalid_option",
    `${where}: match must be a procedure path string, a RegExp or a function`,
  );
}

/**
 * Validates limits and resolves their defaults into a new rule.
 *
 * @private
 */
export function resolveRule(
  where: string,
  name: string,
  limits: RateLimitLimits,
  matches: (procedure: string) => boolean,
): ResolvedRule {
  if (name === "" || name.includes("|")) {
    throw new RateLimitError(
      "invalid_option",
      `${where}: rule name must be non-empty and must not contain "|", got "${name}"`,
    );
  }
  return {
    name,
    prefix: `${name}|`,
    limit: validateLimit(where, limits),
    maxConcurrentStreams: validateCount(
      where,
      "maxConcurrentStreams",
      limits.maxConcurrentStreams ?? Number.POSITIVE_INFINITY,
      true,
    ),
    matches,
  };
}

/**
 * Validates the rules of an interceptor and resolves their defaults.
 *
 * @private
 */
export function resolveRules(where: string, rules: readonly RateLimitRule[]): ResolvedRule[] {
  const names = new Set<string>([DEFAULT_RULE_NAME]);
  return rules.map((rule, index) => {
    const at = `${where}: rules[${index}]`;
    const name = rule.name ?? (typeof rule.match === "string" ? rule.match : `rule-${index}`);
    if (names.has(name)) {
      throw new RateLimitError(
        "invalid_option",
        `${at}: rule name "${name}" is ${name === DEFAULT_RULE_NAME ? "reserved for defaultRule" : "used twice"}; give each rule its own name`,
      );
    }
    names.add(name);
    return resolveRule(at, name, rule, matcherOf(at, rule.match));
  });
}
