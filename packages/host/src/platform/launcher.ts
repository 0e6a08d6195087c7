import type { Logger } from "@cpg/plugin-sdk";
import type { Host } from "../host.js";
import type { ManagedPluginSpec } from "./managed-plugin-spec.js";

/**
 * What a launcher needs from the platform.
 */
export interface LaunchContext {
  readonly host: Host;
  readonly logger: Logger;
  /** Directories plugin binaries must be in. Default: anywhere. */
  readonly allowedBinaryDirs: readonly string[] | undefined;
  /** How long a started process may take to answer health checks. */
  readonly readyTimeoutMs: number;
  /** How long a plugin may take to report HEALTHY once it has an identity. */
  readonly healthyTimeoutMs: number;
}

/**
 * How a managed plugin ended by itself.
 */
export interface PluginExit {
  readonly code: number | null;
  readonly signal: string | null;
}

/**
 * A running managed plugin instance.
 */
export interface RunningPlugin {
  /** Its runtime id on the host. */
  readonly runtimeId: string;
  /** Where it listens (none for in-memory plugins). */
  readonly url: string | undefined;
  /** Process id (processes only). */
  readonly pid: number | undefined;
  /** Resolves if the plugin ends without being stopped (a crash); never for others. */
  readonly exited: Promise<PluginExit>;
  /** Stops it: graceful first, by force after `graceMs`. */
  stop(graceMs: number): Promise<void>;
}

/**
 * Starts managed plugins of one launch strategy.
 */
export interface Launcher {
  launch(spec: ManagedPluginSpec, ctx: LaunchContext): Promise<RunningPlugin>;
}
