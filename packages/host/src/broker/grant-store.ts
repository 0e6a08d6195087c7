import { Code, ConnectError } from "@connectrpc/connect";
import {
  authErrorToConnectError,
  createMemoryTokenStore,
  generateId,
  isAuthError,
  type TokenEntry,
} from "@cpg/auth";
import type { CapabilityGrant } from "./capability-grant.js";

/**
 * The host's capability grants: issued by the broker, checked by the
 * capability gateway, revoked by the host.
 */
export interface GrantStore {
  /** Issues a grant bound to a runtime and a capability type. */
  issue(grant: {
    capabilityType: string;
    runtimeId: string;
    selfId: string;
    reason: string;
  }): CapabilityGrant;
  /** The grant when `token` is its current token and it has not expired (constant-time comparison). */
  verify(grantId: string, token: string): CapabilityGrant | undefined;
  /** A live grant by id. */
  get(grantId: string): CapabilityGrant | undefined;
  /** Extends a live grant by another TTL; `undefined` when it is gone. */
  refresh(grantId: string): CapabilityGrant | undefined;
  /**
   * Takes over a grant issued by another host replica, token and expiry
   * included (replicated mode); an identical grant changes nothing.
   */
  restore(grant: CapabilityGrant): void;
  /** Revokes one grant at once; false when it did not exist. */
  revoke(grantId: string): boolean;
  /** Revokes every grant of a runtime; returns how many. */
  revokeRuntime(runtimeId: string): number;
  /** Every live grant. */
  list(): CapabilityGrant[];
  /** Number of live grants. */
  readonly size: number;
  /** Stops the sweeper. */
  close(): void;
}

type Facts = Omit<CapabilityGrant, "grantId" | "token" | "expiresAt">;

// Every property written out, in the order a spread gave them: `verify` builds
// one per capability call, and copying the facts with `...` cost about as much
// as the token comparison.
const toGrant = (e: TokenEntry<Facts>): CapabilityGrant => ({
  grantId: e.id,
  token: e.token,
  expiresAt: e.expiresAt,
  capabilityType: e.value.capabilityType,
  runtimeId: e.value.runtimeId,
  selfId: e.value.selfId,
  reason: e.value.reason,
});

/**
 * Creates a {@link GrantStore} on `@cpg/auth`'s token store: grants expire
 * after `ttlMs`, expired ones are swept every `sweepIntervalMs`, and at most
 * `maxEntries` live at once (further requests get `resource_exhausted`).
 */
export function createGrantStore(options: {
  ttlMs: number;
  maxEntries: number;
  now: () => number;
  sweepIntervalMs?: number;
  onRemove?: (grant: CapabilityGrant, reason: "expired" | "revoked") => void;
  /** Called when this store issues a grant or extends one (not for `restore`). */
  onIssue?: (grant: CapabilityGrant) => void;
}): GrantStore {
  const ids = new Set<string>();
  const store = createMemoryTokenStore<Facts>({
    ttlMs: options.ttlMs,
    maxEntries: options.maxEntries,
    now: options.now,
    sweepIntervalMs: options.sweepIntervalMs ?? 30_000,
    onRemove(entry, reason) {
      if (reason === "replaced") return;
      ids.delete(entry.id);
      options.onRemove?.(toGrant(entry), reason);
    },
  });
  const wire = (error: unknown) => (isAuthError(error) ? authErrorToConnectError(error) : error);
  const grants: Omit<GrantStore, "size"> = {
    issue(grant) {
      try {
        const entry = store.issue(`grant-${generateId(12)}`, { ...grant });
        ids.add(entry.id);
        const issued = toGrant(entry);
        options.onIssue?.(issued);
        return issued;
      } catch (error) {
        throw wire(error);
      }
    },
    verify(grantId, token) {
      const entry = store.verify(grantId, token);
      return entry ? toGrant(entry) : undefined;
    },
    get(grantId) {
      const entry = store.get(grantId);
      return entry ? toGrant(entry) : undefined;
    },
    refresh(grantId) {
      const entry = store.refresh(grantId);
      if (entry === undefined) return undefined;
      const refreshed = toGrant(entry);
      options.onIssue?.(refreshed);
      return refreshed;
    },
    restore(grant) {
      const existing = store.get(grant.grantId);
      if (existing?.token === grant.token && existing.expiresAt === grant.expiresAt) return;
      store.restore({
        id: grant.grantId,
        token: grant.token,
        issuedAt: options.now(),
        expiresAt: grant.expiresAt,
        value: {
          capabilityType: grant.capabilityType,
          runtimeId: grant.runtimeId,
          selfId: grant.selfId,
          reason: grant.reason,
        },
      });
      ids.add(grant.grantId);
    },
    revoke: (grantId) => store.revoke(grantId),
    revokeRuntime: (runtimeId) => store.revokeWhere((e) => e.value.runtimeId === runtimeId),
    list() {
      const out: CapabilityGrant[] = [];
      for (const id of [...ids]) {
        const entry = store.get(id);
        if (entry) out.push(toGrant(entry));
      }
      return out;
    },
    close: () => store.close(),
  };
  // Not a `get size()` in the literal: V8 keeps a literal with accessors in
  // slow dictionary mode, which every `verify` call would pay for.
  return Object.defineProperty(grants, "size", {
    get: () => store.size(),
    enumerable: true,
  }) as GrantStore;
}

/**
 * The error for a capability call whose grant is missing, wrong, expired or
 * revoked.
 */
export const grantRefused = () =>
  new ConnectError("invalid, expired or revoked capability grant", Code.Unauthenticated);
