import type { Logger } from "@cpg/plugin-sdk";
import type { Registration } from "../registry/registration.js";
import type { StateSnapshot } from "./redis-state-store.js";
import {
  decodeGrant,
  decodeHealth,
  decodeRegistration,
  decodeRuntime,
  parseRecord,
  type StateChange,
} from "./state-change.js";
import type { ReplicatedState } from "./state-replication.js";

/**
 * Applies one change from the shared store to a replica's in-memory view.
 * Every change carries its whole record, so applying one twice changes
 * nothing; records of a runtime the view does not know are skipped (its
 * `runtime.put` comes first in the stream).
 */
export function applyChange(state: ReplicatedState, change: StateChange): void {
  const { identities, registry, health, grants } = state;
  switch (change.kind) {
    case "runtime.put":
      identities.restore(change.runtime);
      return;
    case "runtime.del":
    case "runtime.expired":
      // Revoking ends the runtime's registrations, health and grants too.
      if (!identities.revoke(change.runtimeId)) {
        registry.removeRuntime(change.runtimeId);
        health.delete(change.runtimeId);
        grants.revokeRuntime(change.runtimeId);
      }
      return;
    case "registration.put":
      if (identities.get(change.registration.runtimeId) !== undefined) {
        registry.restore(change.registration);
      }
      return;
    case "registration.del":
      if (registry.get(change.registrationId) !== undefined) {
        registry.unregister(change.registrationId, undefined);
      }
      return;
    case "health.put":
      if (identities.get(change.runtimeId) !== undefined) {
        health.restore(change.runtimeId, change.health);
      }
      return;
    case "grant.put":
      grants.restore(change.grant);
      return;
    case "grant.del":
      grants.revoke(change.grantId);
      return;
  }
}

/**
 * Makes a replica's view match a snapshot of the shared store: what the
 * snapshot lacks goes (except registrations that stay local to this replica),
 * what it holds is restored. Malformed records are logged and skipped.
 */
export function applySnapshot(
  state: ReplicatedState,
  snapshot: StateSnapshot,
  localOnly: (registration: Registration) => boolean,
  logger: Logger,
): void {
  const { identities, registry, health, grants } = state;
  const records = <T>(raw: Record<string, string>, decode: (o: Record<string, unknown>) => T) => {
    const out = new Map<string, T>();
    for (const [id, text] of Object.entries(raw)) {
      try {
        out.set(id, parseRecord(text, decode));
      } catch (error) {
        logger.error("ignoring a malformed record in the shared state store", { id, error });
      }
    }
    return out;
  };
  const runtimes = records(snapshot.runtimes, decodeRuntime);
  const registrations = records(snapshot.registrations, decodeRegistration);
  const reports = records(snapshot.health, decodeHealth);
  const grantRecords = records(snapshot.grants, decodeGrant);
  for (const identity of identities.list()) {
    if (!runtimes.has(identity.runtimeId)) identities.revoke(identity.runtimeId);
  }
  for (const runtime of runtimes.values()) identities.restore(runtime);
  for (const type of registry.serviceTypes()) {
    for (const r of registry.providers(type)) {
      if (!localOnly(r) && !registrations.has(r.id)) registry.unregister(r.id, undefined);
    }
  }
  for (const r of registrations.values()) {
    if (identities.get(r.runtimeId) !== undefined) registry.restore(r);
  }
  for (const [runtimeId, report] of reports) {
    if (identities.get(runtimeId) !== undefined) health.restore(runtimeId, report);
  }
  for (const grant of grants.list()) {
    if (!grantRecords.has(grant.grantId)) grants.revoke(grant.grantId);
  }
  for (const grant of grantRecords.values()) grants.restore(grant);
}
