/**
 * How a stream of messages ended: `error` is set when the source threw.
 */
export interface StreamEnd {
  /** Whether the source failed (`error` holds what it threw). */
  readonly failed: boolean;
  readonly error: unknown;
}

/**
 * Wraps a stream of messages so that `onEnd` runs exactly once when it ends:
 * the source finished, threw, or the consumer stopped early (`return`). It
 * runs before the consumer sees the end.
 *
 * Unlike an async generator with a `finally` block, the wrapper adds no hop
 * per message: `next()` hands back the source's own promise and watches it
 * on the side. On a long-lived stream that fans one change out to thousands
 * of consumers, each generator layer otherwise costs a few microtasks per
 * message and consumer.
 * @private
 */
export function onStreamEnd<T>(
  source: AsyncIterable<T>,
  onEnd: (end: StreamEnd) => void,
): AsyncIterable<T> {
  return {
    [Symbol.asyncIterator](): AsyncIterator<T> {
      let ended = false;
      const end = (failed: boolean, error: unknown) => {
        if (ended) return;
        ended = true;
        onEnd({ failed, error });
      };
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
      const watch = (promise: Promise<IteratorResult<T>>) => {
        promise.then(settled, failed);
        return promise;
      };
      const call = (run: () => Promise<IteratorResult<T>>) => {
        try {
          return watch(run());
        } catch (error) {
          end(true, error);
          throw error;
        }
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
  };
}
