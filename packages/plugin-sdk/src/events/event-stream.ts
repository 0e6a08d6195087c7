/**
 * A synchronous publish/subscribe stream of typed events. Listeners run in
 * subscription order; a throwing listener does not stop the others (its error
 * is reported to `onListenerError`).
 */
export interface EventStream<E> {
  /** Adds a listener; returns a function that removes it. */
  subscribe(listener: (event: E) => void): () => void;
  /** Delivers an event to every current listener. */
  emit(event: E): void;
  /** Number of current listeners. */
  readonly listenerCount: number;
}

/**
 * Creates an {@link EventStream}.
 */
export function createEventStream<E>(
  onListenerError: (error: unknown) => void = () => {},
): EventStream<E> {
  const listeners = new Set<(event: E) => void>();
  const stream: Omit<EventStream<E>, "listenerCount"> = {
    subscribe(listener) {
      // Wrap so the same function can subscribe twice and unsubscribe once each.
      const entry = (event: E) => listener(event);
      listeners.add(entry);
      return () => {
        listeners.delete(entry);
      };
    },
    emit(event) {
      for (const listener of [...listeners]) {
        try {
          listener(event);
        } catch (error) {
          onListenerError(error);
        }
      }
    },
  };
  // Not a getter in the literal: V8 keeps object literals with accessors in
  // slow dictionary mode, and every method call would pay for that.
  return Object.defineProperty(stream, "listenerCount", {
    get: () => listeners.size,
    enumerable: true,
  }) as EventStream<E>;
}
