import { createEventStream, type EventStream } from "../events/event-stream.js";

/**
 * Serving status of the host and of each service it serves, as reported by
 * the health services and `/readyz`. The empty name `""` is the whole server.
 */
export type ServingState = "serving" | "not_serving";

/**
 * The serving status of named services, with change notifications.
 */
export interface ServingStatusRegistry {
  /** Status of a service, `undefined` when the name is unknown. */
  get(service: string): ServingState | undefined;
  /** Sets a service's status; notifies watchers when it changes. */
  set(service: string, state: ServingState): void;
  /** Sets every known service (and the server) to one status. */
  setAll(state: ServingState): void;
  /** Every known service with its status. */
  entries(): ReadonlyMap<string, ServingState>;
  /** Changes, as `{ service, state }`. */
  readonly changes: EventStream<{ service: string; state: ServingState }>;
}

/**
 * Creates a {@link ServingStatusRegistry} where `""` (the whole server) starts
 * as `not_serving` until the host calls `set("", "serving")`.
 */
export function createServingStatusRegistry(): ServingStatusRegistry {
  const states = new Map<string, ServingState>([["", "not_serving"]]);
  const changes = createEventStream<{ service: string; state: ServingState }>();
  const set = (service: string, state: ServingState) => {
    if (states.get(service) === state) return;
    states.set(service, state);
    changes.emit({ service, state });
  };
  return {
    get: (service) => states.get(service),
    set,
    setAll(state) {
      for (const service of [...states.keys()]) set(service, state);
    },
    entries: () => states,
    changes,
  };
}
