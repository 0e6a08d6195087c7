/** Options of {@link waitFor} and {@link waitForEvent}. */
export interface WaitOptions {
  /** How long to wait before rejecting. Default: 5000 ms. */
  readonly timeoutMs?: number;
  /** How often {@link waitFor} re-evaluates its condition. Default: 5 ms. */
  readonly intervalMs?: number;
  /** What is awaited, for the timeout message. Default: `"condition"` / the event name. */
  readonly description?: string;
}

/** Options of {@link waitForEvent}. */
export interface WaitForEventOptions<A extends unknown[]> extends WaitOptions {
  /** Only an emission whose arguments pass this filter counts. Default: any. */
  readonly filter?: (...args: A) => boolean;
}

/** The part of Node's `EventEmitter` that {@link waitForEvent} uses. */
export interface EventSource {
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  off(event: string, listener: (...args: unknown[]) => void): unknown;
}

const DEFAULT_TIMEOUT_MS = 5000;

/**
 * Waits until `condition` returns a truthy value and resolves with it, or
 * rejects after the deadline. Use it instead of sleeping: it returns as soon
 * as the state is reached. The condition may be async; an error it throws
 * rejects the wait.
 *
 * @example
 * ```ts
 * await waitFor(() => store.size() === 0, { timeoutMs: 2000, description: "store emptied" });
 * ```
 */
export async function waitFor<T>(
  condition: () => T | Promise<T>,
  options: WaitOptions = {},
): Promise<NonNullable<T>> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const intervalMs = options.intervalMs ?? 5;
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await condition();
    if (value) return value as NonNullable<T>;
    if (performance.now() >= deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${options.description ?? "condition"}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/**
 * Resolves with the arguments of the next `event` emitted by `emitter` (that
 * passes `filter`), or rejects after the deadline. Subscribe before causing
 * the event: call it, keep the promise, then act, then await.
 *
 * @example
 * ```ts
 * const closed = waitForEvent(session, "close");
 * session.destroy();
 * await closed;
 * ```
 */
export function waitForEvent<A extends unknown[] = unknown[]>(
  emitter: EventSource,
  event: string,
  options: WaitForEventOptions<A> = {},
): Promise<A> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  return new Promise<A>((resolve, reject) => {
    const stop = (): void => {
      clearTimeout(timer);
      emitter.off(event, listener);
    };
    const listener = (...emitted: unknown[]): void => {
      const args = emitted as A;
      try {
        if (options.filter && !options.filter(...args)) return;
      } catch (error) {
        stop();
        reject(error);
        return;
      }
      stop();
      resolve(args);
    };
    const timer = setTimeout(() => {
      stop();
      reject(
        new Error(
          `timed out after ${timeoutMs} ms waiting for ${options.description ?? `"${event}"`}`,
        ),
      );
    }, timeoutMs);
    emitter.on(event, listener);
  });
}
