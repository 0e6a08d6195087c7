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
 * Creates an {@link EventLog} keeping the last `capacity` events.
 */
export function createEventLog(capacity = 500): EventLog {
  const ring: LoggedEvent[] = [];
  const listeners = new Set<(event: LoggedEvent) => void>();
  return {
    push(event) {
      ring.push(event);
      if (ring.length > capacity) ring.shift();
      for (const l of [...listeners]) l(event);
    },
    recent: (n) => ring.slice(Math.max(0, ring.length - n)),
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
