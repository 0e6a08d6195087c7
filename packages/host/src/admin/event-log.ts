import { HostError } from "../host-error.js";

/**
 * One entry of the host's recent-event log, as the admin API shows it.
 */
export interface LoggedEvent {
  readonly time: number;
  /** audit, route, health, registry, runtime, platform. */
  readonly kind: string;
  readonly name: string;
  readonly fields: Readonly<Record<string, string>>;
}

/**
 * A bounded log of recent host events with live subscribers.
 */
export interface EventLog {
  push(event: LoggedEvent): void;
  /** The last `n` events, oldest first. */
  recent(n: number): LoggedEvent[];
  /** Calls `listener` for every new event; returns the unsubscribe function. */
  subscribe(listener: (event: LoggedEvent) => void): () => void;
}

/**
 * Creates an {@link EventLog} keeping the last `capacity` events (a positive
 * integer; default: 500).
 */
export function createEventLog(capacity = 500): EventLog {
  if (!Number.isInteger(capacity) || capacity < 1) {
    throw new HostError(
      "invalid_config",
      `event log capacity must be a positive integer, got ${capacity}`,
    );
  }
  // A ring: the oldest event is overwritten, nothing is shifted.
  const ring: LoggedEvent[] = [];
  let next = 0;
  const listeners = new Set<(event: LoggedEvent) => void>();
  return {
    push(event) {
      if (ring.length < capacity) ring.push(event);
      else ring[next] = event;
      next = (next + 1) % capacity;
      if (listeners.size > 0) for (const l of [...listeners]) l(event);
    },
    recent(n) {
      const ordered = ring.length < capacity ? ring : [...ring.slice(next), ...ring.slice(0, next)];
      return ordered.slice(Math.max(0, ordered.length - n));
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}

/**
 * Turns any value into the string form the admin API carries.
 */
export function fieldString(value: unknown): string {
  if (typeof value === "string") return value;
  if (value === undefined || value === null) return "";
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}
