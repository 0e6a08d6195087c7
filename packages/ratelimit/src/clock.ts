/**
 * A monotonic time source in milliseconds. Only differences between two
 * readings matter; the origin is arbitrary. Inject your own (for example
 * {@link createManualClock}) to test bucket arithmetic without waiting.
 */
export interface Clock {
  /** Current time in milliseconds; never decreases. */
  now(): number;
}

let cachedNow = -1;

function invalidateCachedNow(): void {
  cachedNow = -1;
}

/**
 * The default clock: `performance.now()`, read at most once per synchronous
 * run of JavaScript.
 *
 * Reading the system clock costs about as much as a whole in-memory rate
 * limit decision, so the first reading in a run is kept until the next
 * microtask checkpoint (the same idea as nginx's per-event-loop-iteration time
 * cache). Every request callback, timer and resolved promise starts a new
 * run and sees fresh time. Inside one long synchronous loop time stands
 * still, which can only delay refills, never grant extra tokens.
 */
export const monotonicClock: Clock = {
  now(): number {
    if (cachedNow < 0) {
      cachedNow = performance.now();
      queueMicrotask(invalidateCachedNow);
    }
    return cachedNow;
  },
};
