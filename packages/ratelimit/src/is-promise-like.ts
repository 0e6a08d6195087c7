/**
 * Reports whether a store answer is a promise (or another thenable), so that
 * callers await only asynchronous answers.
 *
 * @private
 */
export function isPromiseLike<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return typeof (value as { then?: unknown } | null)?.then === "function";
}
