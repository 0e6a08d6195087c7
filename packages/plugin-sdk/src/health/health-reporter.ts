/**
 * Sends a plugin's health to its host: when asked (on a change), and again at
 * a fixed interval while started (to renew the plugin's registrations, which
 * are leases on a replicated host).
 * @private
 */
export interface HealthReporter {
  /**
   * Sends the current health. One report is on the wire at a time, so the
   * host receives them in order: asked while one is under way, it sends one
   * more once that one is done (with the health of that moment), and every
   * caller meanwhile shares it.
   */
  report(): Promise<void>;
  /** Starts the periodic reports (once; later calls while they run do nothing). */
  start(): void;
  /** Stops the periodic reports. */
  stop(): void;
  /** Whether the periodic reports run. */
  readonly running: boolean;
}

/**
 * Creates a {@link HealthReporter}. `send` sends the health of the moment it
 * is called. Every `intervalMs` a report is sent unless one is already under
 * way; the reports stop by themselves once `active()` is false (no identity
 * any more). The timer does not keep the process alive. An `intervalMs` of 0
 * disables periodic reports.
 * @private
 */
export function createHealthReporter(options: {
  intervalMs: number;
  /** Sends the current health; it handles (logs) its own failures. */
  send: () => Promise<void>;
  active: () => boolean;
}): HealthReporter {
  let timer: NodeJS.Timeout | undefined;
  let sending: Promise<void> | undefined;
  let queued: Promise<void> | undefined;

  const report = (): Promise<void> => {
    if (queued) return queued;
    if (sending) {
      queued = sending.then(() => {
        queued = undefined;
        return report();
      });
      return queued;
    }
    sending = options
      .send()
      .catch(() => {})
      .finally(() => {
        sending = undefined;
      });
    return sending;
  };

  const tick = () => {
    if (!options.active()) {
      reporter.stop();
      return;
    }
    if (sending === undefined) void report();
  };

  const reporter: HealthReporter = {
    report,
    start() {
      if (timer !== undefined || options.intervalMs === 0) return;
      timer = setInterval(tick, options.intervalMs);
      timer.unref();
    },
    stop() {
      clearInterval(timer);
      timer = undefined;
    },
    get running() {
      return timer !== undefined;
    },
  };
  return reporter;
}
