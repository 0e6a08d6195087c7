import type { EventStream } from "@cpg/plugin-sdk/internal";
import { HealthState } from "@cpg/protocol";
import type { HostEvent } from "../events/host-event.js";

/**
 * The last health a runtime reported.
 */
export interface PluginHealth {
  readonly state: HealthState;
  readonly reason: string;
  readonly unavailableDependencies: readonly string[];
  /** When it was reported, Unix milliseconds. */
  readonly reportedAt: number;
}

/**
 * Health of every runtime on the host. Changes go out as `health.changed`
 * host events; a runtime that never reported is `HEALTH_STATE_UNSPECIFIED`.
 */
export interface PluginHealthTable {
  /** The last report of a runtime, or `undefined`. */
  get(runtimeId: string): PluginHealth | undefined;
  /** Records a report; emits `health.changed` when state, reason or dependencies differ. */
  report(runtimeId: string, health: Omit<PluginHealth, "reportedAt">): void;
  /**
   * Takes over a report recorded by another host replica (replicated mode):
   * emits `health.changed` when it differs, never `health.reported`.
   */
  restore(runtimeId: string, health: PluginHealth): void;
  /** Forgets a runtime (its identity ended). */
  delete(runtimeId: string): void;
  /** Every runtime with a report. */
  entries(): IterableIterator<[string, PluginHealth]>;
}

/**
 * Creates a {@link PluginHealthTable} that publishes to `events`.
 */
export function createPluginHealthTable(
  events: EventStream<HostEvent>,
  now: () => number,
): PluginHealthTable {
  const table = new Map<string, PluginHealth>();
  const record = (runtimeId: string, health: PluginHealth, reported: boolean) => {
    const previous = table.get(runtimeId);
    table.set(runtimeId, health);
    const same =
      previous !== undefined &&
      previous.state === health.state &&
      previous.reason === health.reason &&
      previous.unavailableDependencies.join("\n") === health.unavailableDependencies.join("\n");
    if (!same) {
      events.emit({
        type: "health.changed",
        runtimeId,
        state: health.state,
        previous: previous?.state ?? HealthState.UNSPECIFIED,
        reason: health.reason,
        unavailableDependencies: health.unavailableDependencies,
      });
    }
    // After `health.changed`, so listeners of both know whether this report changed anything.
    if (reported) events.emit({ type: "health.reported", runtimeId, state: health.state });
  };
  return {
    get: (runtimeId) => table.get(runtimeId),
    report(runtimeId, health) {
      record(runtimeId, { ...health, reportedAt: now() }, true);
    },
    restore(runtimeId, health) {
      record(runtimeId, health, false);
    },
    delete(runtimeId) {
      table.delete(runtimeId);
    },
    entries: () => table.entries(),
  };
}
