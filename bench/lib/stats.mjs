// Small statistics helpers shared by the bench suites.

/** Median of a list of numbers. */
export function median(values) {
  return percentile(values, 50);
}

/** The p-th percentile (nearest rank) of a list of numbers. */
export function percentile(values, p) {
  if (values.length === 0) return Number.NaN;
  const sorted = Float64Array.from(values).sort();
  const rank = Math.ceil((p / 100) * sorted.length) - 1;
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank))];
}

/** Formats a rate as "12.34 M/s" or "5.6 k/s". */
export function formatRate(perSecond) {
  if (perSecond >= 1e6) return `${(perSecond / 1e6).toFixed(2)} M/s`;
  if (perSecond >= 1e3) return `${(perSecond / 1e3).toFixed(1)} k/s`;
  return `${perSecond.toFixed(0)} /s`;
}

/** Formats a ratio as "1.23x". */
export function formatRatio(ratio) {
  return `${ratio.toFixed(2)}x`;
}

/**
 * Runs `fn` repeatedly in a tight loop and returns operations per second of
 * this process's CPU time (one core), which other load disturbs less than
 * wall time. `fn` receives the iteration index.
 */
export function opsPerCpuSecond(fn, iterations) {
  const start = process.cpuUsage();
  for (let i = 0; i < iterations; i++) fn(i);
  const used = process.cpuUsage(start);
  return iterations / ((used.user + used.system) / 1e6);
}
