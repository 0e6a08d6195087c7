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
 * call emits an event, and most are never looked at. A class, not an object
 * literal with a getter: V8 builds such a literal in slow dictionary mode,
 * about 30 times as costly to create.
 */
class LazyLoggedEvent implements LoggedEvent {
  #format: (() => Record<string, string>) | undefined;
  #fields: Record<string, string> | undefined;

  constructor(
    readonly time: number,
    readonly kind: string,
    readonly name: string,
    format: () => Record<string, string>,
  ) {
    this.#format = format;
  }

  get fields(): Record<string, string> {
    if (this.#fields === undefined) {
      this.#fields = this.#format!();
      this.#format = undefined;
    }
    return this.#fields;
  }

  toJSON(): LoggedEvent {
    return { time: this.time, kind: this.kind, name: this.name, fields: this.fields };
  }
}

/** A {@link LoggedEvent} whose `format` runs when its fields are first read. */
export function lazyLoggedEvent(
  time: number,
  kind: string,
  name: string,
  format: () => Record<string, string>,
): LoggedEvent {
  return new LazyLoggedEvent(time, kind, name, format);
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
