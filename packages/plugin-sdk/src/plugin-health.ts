import { HealthState } from "@cpg/protocol";

/**
 * A plugin's own view of its health, as reported to the host and answered on
 * `PluginControl.GetHealth`.
 */
export interface PluginHealthReport {
  readonly state: HealthState;
  readonly reason: string;
  readonly unavailableDependencies: readonly string[];
}

/**
 * The report of a plugin that is fine.
 */
export const HEALTHY: PluginHealthReport = {
  state: HealthState.HEALTHY,
  reason: "",
  unavailableDependencies: [],
};

/**
 * Whether two reports say the same thing.
 */
export function sameHealth(a: PluginHealthReport, b: PluginHealthReport): boolean {
  return (
    a.state === b.state &&
    a.reason === b.reason &&
    a.unavailableDependencies.join("\n") === b.unavailableDependencies.join("\n")
  );
}
