import { createClient } from "@connectrpc/connect";
import { ServiceRegistry, ServiceState } from "@cpg/protocol";
import type { HostSession } from "../host-link/host-session.js";
import type { Logger } from "../logging/logger.js";

/**
 * Watches the services a plugin requires and tells which are missing.
 * @private
 */
export interface DependencyMonitor {
  /** (Re)starts one watch per required service for the current identity. */
  start(): void;
  /** Required service types without an available provider (in declaration order). */
  missing(): string[];
  /** Stops every watch. */
  stop(): void;
}

/**
 * Creates a {@link DependencyMonitor}. A service counts as available while
 * the host reports it AVAILABLE or DEGRADED. Watches that fail are retried
 * with backoff (0.2 s doubling to 5 s) until stopped; `onChange` runs when
 * the set of missing services changes.
 * @private
 */
export function createDependencyMonitor(options: {
  session: () => HostSession | undefined;
  required: readonly string[];
  onChange: () => void;
  logger: Logger;
}): DependencyMonitor {
  const available = new Map<string, boolean>();
  let controller: AbortController | undefined;

  const set = (type: string, value: boolean) => {
    if (available.get(type) === value) return;
    available.set(type, value);
    options.onChange();
  };

  const watch = async (type: string, signal: AbortSignal) => {
    let delay = 200;
    while (!signal.aborted) {
      const session = options.session();
      if (!session?.credentials) return;
      try {
        const client = createClient(ServiceRegistry, session.transport);
        for await (const event of client.watchService({ serviceType: type }, { signal })) {
          delay = 200;
          set(
            type,
            event.state === ServiceState.AVAILABLE || event.state === ServiceState.DEGRADED,
          );
        }
      } catch (error) {
        if (signal.aborted) return;
        options.logger.debug("dependency watch failed; retrying", { service_type: type, error });
      }
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, delay);
        signal.addEventListener("abort", () => {
          clearTimeout(timer);
          resolve(undefined);
        });
      });
      delay = Math.min(delay * 2, 5000);
    }
  };

  return {
    start() {
      controller?.abort();
      if (options.required.length === 0) return;
      controller = new AbortController();
      for (const type of options.required) void watch(type, controller.signal);
    },
    missing() {
      return options.required.filter((type) => available.get(type) !== true);
    },
    stop() {
      controller?.abort();
      controller = undefined;
    },
  };
}
