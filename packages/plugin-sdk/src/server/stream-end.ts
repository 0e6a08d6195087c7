/**
 * How a stream of messages ended: `error` is set when the source threw.
 */
export interface StreamEnd {
  /** Whether the source failed (`error` holds what it threw). */
  readonly failed: boolean;
  readonly error: unknown;
}

/**
 * The property through which a stream wrapper of this kind takes more
 * end callbacks instead of being wrapped again. `@cpg/ratelimit` marks its
 * stream-slot wrapper with the same registered symbol.
 * @private
 */
export const STREAM_END_HOOKS: unique symbol = Symbol.for("@cpg/stream-end-hooks") as never;

type Hookable<T> = AsyncIterable<T> & {
  [STREAM_END_HOOKS]?: (onEnd: (end: StreamEnd) => void) => void;
};

/**
 * Wraps a stream of messages so that `onEnd` runs exactly once when it ends:
 * the source finished, threw, or the consumer stopped early (`return`). It
 * runs before the consumer sees the end; callbacks of nested wrappers run
 * innermost first, as nested `finally` blocks would.
 *
 * Unlike an async generator with a `finally` block, the wrapper adds no hop
 * per message: `next()` hands back the source's own promise and watches it
 * on the side, and wrapping a wrapped stream again only adds a callback. On
 * a long-lived stream that fans one change out to thousands of consumers,
 * each generator layer otherwise costs a few microtasks per message and
 * consumer.
 * @private
 */
export function onStreamEnd<T>(
  source: AsyncIterable<T>,
  onEnd: (end: StreamEnd) => void,
): AsyncIterable<T> {
  const hookable = source as Hookable<T>;
  const add = hookable[STREAM_END_HOOKS];
  if (typeof add === "function") {
    add(onEnd);
    return source;
  }
  const hooks = [onEnd];
  let ended = false;
  const end = (failed: boolean, error: unknown) => {
    if (ended) return;
    ended = true;
    for (const hook of hooks) hook({ failed, error });
  };
  return {
    [STREAM_END_HOOKS]: (hook: (end: StreamEnd) => void) => {
      hooks.push(hook);
    },
    [Symbol.asyncIterator](): AsyncIterator<T> {
      let iterator: AsyncIterator<T>;
      try {
        iterator = source[Symbol.asyncIterator]();
      } catch (error) {
        end(true, error);
        throw error;
      }
      const settled = (result: IteratorResult<T>) => {
        if (result.done) end(false, undefined);
      };
      const failed = (error: unknown) => end(true, error);
      const call = (run: () => Promise<IteratorResult<T>>) => {
        let promise: Promise<IteratorResult<T>>;
        try {
          promise = run();
        } catch (error) {
          end(true, error);
          throw error;
        }
        promise.then(settled, failed);
        return promise;
      };
      return {
        next: () => call(() => iterator.next()),
        return: (value?: unknown) =>
          call(() =>
            iterator.return
              ? iterator.return(value as T)
              : Promise.resolve({ done: true, value: value as T }),
          ).then((result) => {
            end(false, undefined);
            return result;
          }),
        throw: (error?: unknown) =>
          call(() => (iterator.throw ? iterator.throw(error) : Promise.reject(error))),
      };
    },
  } as AsyncIterable<T>;
}
