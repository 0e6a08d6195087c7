let cached = -1;

function invalidate(): void {
  cached = -1;
}

/**
 * `Date.now()`, read at most once per synchronous run of JavaScript.
 *
 * On virtual machines without a fast clock source, reading the clock costs
 * more than a whole token check. The first reading in a run is kept until the
 * next microtask checkpoint (as nginx caches the time once per event-loop
 * iteration), so every request callback, timer and resolved promise sees
 * fresh time, and one busy synchronous stretch sees one instant: an expiry
 * can only take effect that much later, never earlier.
 *
 * @example
 * ```ts
 * import { createMemoryTokenStore, eventLoopNow } from "@cpg/auth";
 *
 * const store = createMemoryTokenStore({ now: eventLoopNow }); // the default
 * ```
 */
export function eventLoopNow(): number {
  if (cached < 0) {
    cached = Date.now();
    queueMicrotask(invalidate);
  }
  return cached;
}
