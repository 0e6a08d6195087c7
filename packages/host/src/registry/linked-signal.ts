/**
 * A signal that aborts when any of `signals` does, released with `dispose()`.
 * Unlike `AbortSignal.any`, it leaves nothing behind on a long-lived signal
 * (such as the host's shutdown signal) once disposed, so many short streams
 * do not accumulate listeners there.
 */
export function linkedSignal(signals: readonly AbortSignal[]): {
  signal: AbortSignal;
  dispose(): void;
} {
  const controller = new AbortController();
  const abort = () => controller.abort();
  for (const s of signals) {
    if (s.aborted) {
      controller.abort();
      break;
    }
    s.addEventListener("abort", abort, { once: true });
  }
  return {
    signal: controller.signal,
    dispose() {
      for (const s of signals) s.removeEventListener("abort", abort);
    },
  };
}
