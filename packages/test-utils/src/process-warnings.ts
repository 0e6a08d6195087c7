/**
 * Collects the warnings the process emits (`process.on("warning")`) while
 * `body` runs, including those Node emits on the tick after it, and returns
 * them as `"Name: message"` strings. Use it to check that code does not make
 * Node warn, e.g. of a listener leak.
 *
 * @example
 * ```ts
 * expect(await processWarnings(() => openManyStreams())).toEqual([]);
 * ```
 */
export async function processWarnings(body: () => Promise<void>): Promise<string[]> {
  const warnings: string[] = [];
  const onWarning = (warning: Error) => warnings.push(`${warning.name}: ${warning.message}`);
  process.on("warning", onWarning);
  try {
    await body();
    // Node emits warnings on the next tick.
    await new Promise((resolve) => setImmediate(resolve));
  } finally {
    process.off("warning", onWarning);
  }
  return warnings;
}
