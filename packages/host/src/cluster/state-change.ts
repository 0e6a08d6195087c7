import type { HealthState } from "@cpg/protocol";
import type { CapabilityGrant } from "../broker/capability-grant.js";
import type { PluginHealth } from "../health/plugin-health.js";
import type { RuntimeIdentity } from "../identity/runtime-identity.js";
import type { Registration } from "../registry/registration.js";

/**
 * One change of host state, as replicas exchange it through the shared
 * store's change stream. Puts carry the whole record, so applying a change
 * twice is harmless.
 */
export type StateChange =
  | { readonly kind: "runtime.put"; readonly runtime: RuntimeIdentity }
  | { readonly kind: "runtime.del"; readonly runtimeId: string }
  /** Written by the lease reaper: the runtime stopped reporting. */
  | { readonly kind: "runtime.expired"; readonly runtimeId: string }
  | { readonly kind: "registration.put"; readonly registration: Registration }
  | {
      readonly kind: "registration.del";
      readonly registrationId: string;
      readonly runtimeId: string;
    }
  | { readonly kind: "health.put"; readonly runtimeId: string; readonly health: PluginHealth }
  | { readonly kind: "grant.put"; readonly grant: CapabilityGrant }
  | { readonly kind: "grant.del"; readonly grantId: string };

/** The record a change is about, e.g. `registration:reg-1a2b`: changes to one key apply in stream order. */
export function changeKey(change: StateChange): string {
  switch (change.kind) {
    case "runtime.put":
      return `runtime:${change.runtime.runtimeId}`;
    case "runtime.del":
    case "runtime.expired":
      return `runtime:${change.runtimeId}`;
    case "registration.put":
      return `registration:${change.registration.id}`;
    case "registration.del":
      return `registration:${change.registrationId}`;
    case "health.put":
      return `health:${change.runtimeId}`;
    case "grant.put":
      return `grant:${change.grant.grantId}`;
    case "grant.del":
      return `grant:${change.grantId}`;
  }
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json =>
  typeof v === "object" && v !== null && !Array.isArray(v);
const str = (o: Json, k: string): string => {
  const v = o[k];
  if (typeof v !== "string") throw new TypeError(`field ${k} must be a string`);
  return v;
};
const num = (o: Json, k: string): number => {
  const v = o[k];
  if (typeof v !== "number" || !Number.isFinite(v))
    throw new TypeError(`field ${k} must be a number`);
  return v;
};
const strings = (o: Json, k: string): string[] => {
  const v = o[k];
  if (!Array.isArray(v) || !v.every((s) => typeof s === "string")) {
    throw new TypeError(`field ${k} must be a list of strings`);
  }
  return v as string[];
};
const obj = (o: Json, k: string): Json => {
  const v = o[k];
  if (!isObject(v)) throw new TypeError(`field ${k} must be an object`);
  return v;
};

/** Reads a runtime identity record (the shared store's `runtime` hash holds them as JSON). */
export function decodeRuntime(o: Json): RuntimeIdentity {
  const peer = o.peerIdentity;
  return {
    runtimeId: str(o, "runtimeId"),
    selfId: str(o, "selfId"),
    selfVersion: str(o, "selfVersion"),
    token: str(o, "token"),
    expiresAt: num(o, "expiresAt"),
    managed: o.managed === true,
    peerIdentity: typeof peer === "string" ? peer : undefined,
    requires: strings(o, "requires"),
  };
}

/** Reads a registration record. */
export function decodeRegistration(o: Json): Registration {
  const metadata = obj(o, "metadata");
  const meta: Record<string, string> = {};
  for (const [k, v] of Object.entries(metadata)) {
    if (typeof v !== "string") throw new TypeError(`metadata ${k} must be a string`);
    meta[k] = v;
  }
  const baseUrl = o.baseUrl;
  return {
    id: str(o, "id"),
    runtimeId: str(o, "runtimeId"),
    selfId: str(o, "selfId"),
    serviceType: str(o, "serviceType"),
    version: str(o, "version"),
    endpointPath: str(o, "endpointPath"),
    metadata: meta,
    baseUrl: typeof baseUrl === "string" ? baseUrl : undefined,
    http2: o.http2 === true,
    registeredAt: num(o, "registeredAt"),
  };
}

/** Reads a health record. */
export function decodeHealth(o: Json): PluginHealth {
  return {
    state: num(o, "state") as HealthState,
    reason: str(o, "reason"),
    unavailableDependencies: strings(o, "unavailableDependencies"),
    reportedAt: num(o, "reportedAt"),
  };
}

/** Reads a capability grant record. */
export function decodeGrant(o: Json): CapabilityGrant {
  return {
    grantId: str(o, "grantId"),
    token: str(o, "token"),
    capabilityType: str(o, "capabilityType"),
    runtimeId: str(o, "runtimeId"),
    selfId: str(o, "selfId"),
    reason: str(o, "reason"),
    expiresAt: num(o, "expiresAt"),
  };
}

/** Parses one record of the shared store; throws a `TypeError` naming the bad field. */
export function parseRecord<T>(text: string, decode: (o: Json) => T): T {
  const value: unknown = JSON.parse(text);
  if (!isObject(value)) throw new TypeError("record must be a JSON object");
  return decode(value);
}

/** Parses a change read from the change stream; throws a `TypeError` for a malformed one. */
export function decodeChange(text: string): StateChange {
  const o: unknown = JSON.parse(text);
  if (!isObject(o)) throw new TypeError("change must be a JSON object");
  const kind = str(o, "kind");
  switch (kind) {
    case "runtime.put":
      return { kind, runtime: decodeRuntime(obj(o, "runtime")) };
    case "runtime.del":
    case "runtime.expired":
      return { kind, runtimeId: str(o, "runtimeId") };
    case "registration.put":
      return { kind, registration: decodeRegistration(obj(o, "registration")) };
    case "registration.del":
      return { kind, registrationId: str(o, "registrationId"), runtimeId: str(o, "runtimeId") };
    case "health.put":
      return { kind, runtimeId: str(o, "runtimeId"), health: decodeHealth(obj(o, "health")) };
    case "grant.put":
      return { kind, grant: decodeGrant(obj(o, "grant")) };
    case "grant.del":
      return { kind, grantId: str(o, "grantId") };
    default:
      throw new TypeError(`unknown change kind ${JSON.stringify(kind)}`);
  }
}
