import type { EventStream } from "@cpg/plugin-sdk/internal";
import type { HostEvent } from "../events/host-event.js";
import { type EventLog, fieldString, type LoggedEvent } from "./event-log.js";

function kindOf(type: string): string {
  if (type.startsWith("route.")) return "route";
  if (type.startsWith("health.")) return "health";
  if (type.startsWith("runtime.")) return "runtime";
  if (type.startsWith("host.")) return "host";
  return "registry";
}

function fieldsOf(event: HostEvent): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const [k, v] of Object.entries(event)) {
    if (k === "type") continue;
    if (k === "registration" && typeof v === "object" && v !== null) {
      const r = v as { id: string; serviceType: string; runtimeId: string; version: string };
      fields.registration_id = r.id;
      fields.service_type = r.serviceType;
      fields.runtime_id = r.runtimeId;
      fields.version = r.version;
    } else {
      fields[k] = fieldString(v);
    }
  }
  return fields;
}

/**
 * A logged event whose fields are formatted when first read: every routed
 * call emits an event, and most are never looked at.
 */
export function lazyLoggedEvent(
  time: number,
  kind: string,
  name: string,
  format: () => Record<string, string>,
): LoggedEvent {
  let fields: Record<string, string> | undefined;
  return {
    time,
    kind,
    name,
    get fields() {
      fields ??= format();
      return fields;
    },
  };
}

/**
 * Feeds the host's events (all but `health.reported`) into the admin event
 * log that the dashboard reads.
 */
export function feedHostEvents(
  events: EventStream<HostEvent>,
  log: EventLog,
  now: () => number,
): void {
  events.subscribe((event) => {
    if (event.type === "health.reported") return;
    log.push(lazyLoggedEvent(now(), kindOf(event.type), event.type, () => fieldsOf(event)));
  });
}
