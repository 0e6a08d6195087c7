import type { RuntimeIdentity } from "../identity/runtime-identity.js";

/**
 * Which names (service types, capability types, ...) each plugin may use,
 * keyed by runtime id or by self_id (a runtime id entry wins). A list with
 * `"*"` allows every name; an empty list allows none.
 *
 * @example
 * ```ts
 * { "kv-store": ["kv"], "api": ["shortener"], "admin-1a2b3c": ["*"] }
 * ```
 */
export type AllowLists = Readonly<Record<string, readonly string[]>>;

/**
 * An allow-list policy with a default for plugins it does not name.
 */
export interface AllowListPolicy {
  /** Whether `identity` may use `name`. */
  allows(identity: Pick<RuntimeIdentity, "runtimeId" | "selfId">, name: string): boolean;
  /** Whether the list of `identity` names `name` itself (not through `"*"` or the fallback). */
  names(identity: Pick<RuntimeIdentity, "runtimeId" | "selfId">, name: string): boolean;
}

/**
 * Creates an {@link AllowListPolicy}. Plugins named in `lists` get exactly
 * their list; others get `fallback` (`"allow"` = everything, `"deny"` =
 * nothing).
 */
export function createAllowListPolicy(
  lists: AllowLists | undefined,
  fallback: "allow" | "deny",
): AllowListPolicy {
  const table = new Map<string, ReadonlySet<string>>();
  for (const [key, names] of Object.entries(lists ?? {})) table.set(key, new Set(names));
  return {
    allows(identity, name) {
      const list = table.get(identity.runtimeId) ?? table.get(identity.selfId);
      if (list === undefined) return fallback === "allow";
      return list.has("*") || list.has(name);
    },
    names(identity, name) {
      const list = table.get(identity.runtimeId) ?? table.get(identity.selfId);
      return list?.has(name) ?? false;
    },
  };
}
