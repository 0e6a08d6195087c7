import type { Logger } from "@cpg/plugin-sdk";
import { validateSelfId } from "@cpg/validation";
import type { Host } from "../host.js";
import { HostError } from "../host-error.js";
import type { ServiceRouter } from "../router/service-router.js";
import { impactOfRemoval, startupOrder } from "./dependency-graph.js";
import { inMemoryLauncher } from "./in-memory-launcher.js";
import type { LaunchContext, Launcher, RunningPlugin } from "./launcher.js";
import type { ManagedPluginSpec } from "./managed-plugin-spec.js";
import { processLauncher } from "./process-launcher.js";
import { remoteLauncher } from "./remote-launcher.js";

/**
 * Where a managed plugin is in its life.
 */
export type ManagedPluginState =
  | "starting"
  | "running"
  | "stopping"
  | "stopped"
  | "crashed"
  | "failed";

/**
 * A managed plugin as the platform sees it.
 */
export interface ManagedPluginStatus {
  readonly name: string;
  readonly strategy: ManagedPluginSpec["strategy"]["kind"];
  readonly state: ManagedPluginState;
  readonly runtimeId: string | undefined;
  readonly pid: number | undefined;
  readonly url: string | undefined;
  /** Restarts after crashes so far. */
  readonly restarts: number;
  /** Why it failed or crashed last. */
  readonly lastError: string | undefined;
}

/**
 * Options of {@link createPlatform}.
 */
export interface PlatformOptions {
  /** Directories process plugins' binaries must be in. Default: anywhere (an absolute path is still required). */
  readonly allowedBinaryDirs?: readonly string[];
  /** Grace period for stopping a plugin. Default: 5 s. */
  readonly graceMs?: number;
  /** How long a started process may take to answer health checks. Default: 15 s. */
  readonly readyTimeoutMs?: number;
  /** How long a plugin may take to report HEALTHY. Default: 15 s. */
  readonly healthyTimeoutMs?: number;
  /** Restarts after crashes before giving up. Default: 5. */
  readonly maxRestarts?: number;
  /** First restart delay, doubled on each restart. Default: 250 ms. */
  readonly restartBackoffMs?: number;
  /** Longest restart delay. Default: 30 s. */
  readonly maxRestartBackoffMs?: number;
}

/**
 * The host as a supervisor of managed plugins.
 */
export interface Platform {
  /** Starts plugins in dependency order (providers first); refuses cycles naming them. */
  start(specs: readonly ManagedPluginSpec[]): Promise<void>;
  /** Starts one plugin; its startup dependencies must already be available. */
  add(spec: ManagedPluginSpec): Promise<ManagedPluginStatus>;
  /**
   * Removes a plugin: stops routing new calls to it, waits for the calls in
   * flight (at most the grace period), stops it, and ends its identity (its
   * registrations, grants and health go, and watchers are told). Refused
   * when another managed plugin would lose a service it requires (see
   * `impact`), unless `force` is set.
   */
  remove(name: string, options?: { graceMs?: number; force?: boolean }): Promise<void>;
  /**
   * Replaces a plugin without dropping calls: starts the new instance with
   * its own identity, waits until it is healthy and registered, switches
   * traffic to it at once (calls addressed to the old instance follow), then
   * drains and stops the old one.
   */
  replace(
    name: string,
    spec?: ManagedPluginSpec,
    options?: { graceMs?: number },
  ): Promise<ManagedPluginStatus>;
  /** Plugins that would lose a service they require if `name` went away. */
  impact(name: string): Array<{ plugin: string; service: string }>;
  /** Every managed plugin. */
  list(): ManagedPluginStatus[];
  /** One managed plugin. */
  get(name: string): ManagedPluginStatus | undefined;
  /** Stops every plugin, dependents first. */
  close(): Promise<void>;
}

interface Entry {
  spec: ManagedPluginSpec;
  state: ManagedPluginState;
  instance: RunningPlugin | undefined;
  restarts: number;
  lastError: string | undefined;
  restartTimer: NodeJS.Timeout | undefined;
}

const launchers: Record<ManagedPluginSpec["strategy"]["kind"], Launcher> = {
  process: processLauncher,
  "in-memory": inMemoryLauncher,
  remote: remoteLauncher,
};

/**
 * Creates the platform of a host. `router` is the host's router (for
 * draining and switching traffic); `audit` receives every operation.
 * @private Use `host.platform`.
 */
export function createPlatform(
  host: Host,
  deps: {
    router: ServiceRouter;
    logger: Logger;
    audit: (event: string, fields: Record<string, unknown>) => void;
  },
  options: PlatformOptions = {},
): Platform {
  const graceMs = options.graceMs ?? 5000;
  const ctx: LaunchContext = {
    host,
    logger: deps.logger,
    allowedBinaryDirs: options.allowedBinaryDirs,
    readyTimeoutMs: options.readyTimeoutMs ?? 15_000,
    healthyTimeoutMs: options.healthyTimeoutMs ?? 15_000,
  };
  const maxRestarts = options.maxRestarts ?? 5;
  const entries = new Map<string, Entry>();
  let closed = false;

  const status = (e: Entry): ManagedPluginStatus => ({
    name: e.spec.name,
    strategy: e.spec.strategy.kind,
    state: e.state,
    runtimeId: e.instance?.runtimeId,
    pid: e.instance?.pid,
    url: e.instance?.url,
    restarts: e.restarts,
    lastError: e.lastError,
  });

  const checkSpec = (spec: ManagedPluginSpec) => {
    try {
      validateSelfId(spec.name);
    } catch (error) {
      throw new HostError("invalid_config", `plugin name: ${(error as Error).message}`);
    }
  };

  const available = (type: string, minVersion: string) =>
    host.registry.routable(type, minVersion).length > 0;

  const watchCrash = (entry: Entry, instance: RunningPlugin) => {
    void instance.exited.then((exit) => {
      if (entry.instance !== instance || entry.state !== "running") return;
      entry.state = "crashed";
      entry.lastError = `exited with code ${exit.code}, signal ${exit.signal}`;
      deps.logger.warn("managed plugin crashed", { plugin: entry.spec.name, ...exit });
      deps.audit("platform.crash", {
        plugin: entry.spec.name,
        runtime_id: instance.runtimeId,
        ...exit,
      });
      host.identities.revoke(instance.runtimeId);
      entry.instance = undefined;
      if (closed || entry.spec.restartOnCrash === false || entry.restarts >= maxRestarts) {
        entry.state = "failed";
        return;
      }
      const delay = Math.min(
        (options.restartBackoffMs ?? 250) * 2 ** entry.restarts,
        options.maxRestartBackoffMs ?? 30_000,
      );
      entry.restarts++;
      scheduleRestart(entry, delay);
    });
  };

  // Restarts a crashed plugin after `delay`; a failed restart counts and is
  // tried again with a longer delay, until maxRestarts.
  const scheduleRestart = (entry: Entry, delay: number) => {
    entry.restartTimer = setTimeout(() => {
      entry.restartTimer = undefined;
      if (closed || entry.state !== "crashed") return;
      launch(entry).catch(() => {
        if (closed || entry.restarts >= maxRestarts) {
          entry.state = "failed";
          return;
        }
        entry.state = "crashed";
        const next = Math.min(
          (options.restartBackoffMs ?? 250) * 2 ** entry.restarts,
          options.maxRestartBackoffMs ?? 30_000,
        );
        entry.restarts++;
        scheduleRestart(entry, next);
      });
    }, delay);
  };

  const launch = async (entry: Entry): Promise<RunningPlugin> => {
    entry.state = "starting";
    try {
      const instance = await launchers[entry.spec.strategy.kind].launch(entry.spec, ctx);
      await waitForRegistrations(instance, entry.spec);
      entry.instance = instance;
      entry.state = "running";
      entry.lastError = undefined;
      watchCrash(entry, instance);
      deps.audit("platform.start", {
        plugin: entry.spec.name,
        runtime_id: instance.runtimeId,
        pid: instance.pid,
      });
      return instance;
    } catch (error) {
      entry.state = "failed";
      entry.lastError = (error as Error).message;
      deps.audit("platform.start_failed", { plugin: entry.spec.name, error: entry.lastError });
      throw error;
    }
  };

  // A plugin is started once it serves what its spec says it provides.
  const waitForRegistrations = async (instance: RunningPlugin, spec: ManagedPluginSpec) => {
    const types = (spec.provides ?? []).map((p) => p.type);
    const deadline = performance.now() + ctx.healthyTimeoutMs;
    while (types.some((t) => host.registry.find(t, instance.runtimeId) === undefined)) {
      if (performance.now() > deadline) {
        await instance.stop(0);
        throw new HostError(
          "launch_failed",
          `plugin "${spec.name}" did not register ${types.join(", ")} within ${ctx.healthyTimeoutMs} ms`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  };

  const stopInstance = async (name: string, instance: RunningPlugin, grace: number) => {
    // No new calls: its registrations go first; calls in flight finish.
    for (const r of host.registry.byRuntime(instance.runtimeId))
      host.registry.unregister(r.id, undefined);
    const drained = await deps.router.waitIdle(instance.runtimeId, grace);
    if (!drained)
      deps.logger.warn("calls still in flight at the end of the grace period", { plugin: name });
    await instance.stop(grace);
    host.identities.revoke(instance.runtimeId);
  };

  const platform: Platform = {
    async start(specs) {
      for (const spec of specs) {
        checkSpec(spec);
        if (entries.has(spec.name))
          throw new HostError("duplicate_plugin", `plugin "${spec.name}" already exists`);
      }
      const order = startupOrder(specs, available);
      for (const spec of order) await platform.add(spec);
    },
    async add(spec) {
      if (closed) throw new HostError("closed", "the platform has been closed");
      checkSpec(spec);
      if (entries.has(spec.name))
        throw new HostError("duplicate_plugin", `plugin "${spec.name}" already exists`);
      for (const req of spec.requires ?? []) {
        if (req.requiredForStartup === false) continue;
        if (!available(req.type, req.minVersion ?? "")) {
          throw new HostError(
            "invalid_config",
            `plugin "${spec.name}" requires "${req.type}"${req.minVersion ? ` >= ${req.minVersion}` : ""}, which is not available`,
          );
        }
      }
      const entry: Entry = {
        spec,
        state: "starting",
        instance: undefined,
        restarts: 0,
        lastError: undefined,
        restartTimer: undefined,
      };
      entries.set(spec.name, entry);
      try {
        await launch(entry);
      } catch (error) {
        entries.delete(spec.name);
        throw error instanceof HostError
          ? error
          : new HostError(
              "launch_failed",
              `plugin "${spec.name}" could not start: ${(error as Error).message}`,
              {
                cause: error,
              },
            );
      }
      return status(entry);
    },
    async remove(name, removeOptions = {}) {
      const entry = entries.get(name);
      if (entry === undefined) throw new HostError("unknown_plugin", `no managed plugin "${name}"`);
      const impact = platform.impact(name);
      if (impact.length > 0 && !removeOptions.force) {
        throw new HostError(
          "in_use",
          `removing "${name}" would leave ${impact.map((i) => `"${i.plugin}" without "${i.service}"`).join(", ")}; remove those first or force it`,
        );
      }
      clearTimeout(entry.restartTimer);
      entry.state = "stopping";
      const instance = entry.instance;
      entry.instance = undefined;
      if (instance) await stopInstance(name, instance, removeOptions.graceMs ?? graceMs);
      entry.state = "stopped";
      entries.delete(name);
      deps.audit("platform.remove", { plugin: name, runtime_id: instance?.runtimeId });
    },
    async replace(name, spec, replaceOptions = {}) {
      const entry = entries.get(name);
      if (entry === undefined) throw new HostError("unknown_plugin", `no managed plugin "${name}"`);
      const nextSpec = spec ?? entry.spec;
      if (nextSpec.name !== name) {
        throw new HostError(
          "invalid_config",
          `a replacement must keep the name "${name}", got "${nextSpec.name}"`,
        );
      }
      const old = entry.instance;
      const next = await launchers[nextSpec.strategy.kind]
        .launch(nextSpec, ctx)
        .catch((error: unknown) => {
          throw new HostError(
            "launch_failed",
            `replacement of "${name}" could not start: ${(error as Error).message}`,
            {
              cause: error,
            },
          );
        });
      // Wait until the new instance serves everything the old one did.
      const types = old ? host.registry.byRuntime(old.runtimeId).map((r) => r.serviceType) : [];
      const deadline = performance.now() + ctx.healthyTimeoutMs;
      while (types.some((t) => host.registry.find(t, next.runtimeId) === undefined)) {
        if (performance.now() > deadline) {
          await next.stop(0);
          throw new HostError(
            "launch_failed",
            `replacement of "${name}" did not register ${types.join(", ")} in time`,
          );
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      // The switch: one synchronous step, so no call sees neither instance.
      entry.spec = nextSpec;
      entry.instance = next;
      entry.state = "running";
      watchCrash(entry, next);
      if (old) {
        deps.router.alias(old.runtimeId, next.runtimeId);
        for (const r of host.registry.byRuntime(old.runtimeId))
          host.registry.unregister(r.id, undefined);
        await stopInstance(name, old, replaceOptions.graceMs ?? graceMs);
      }
      deps.audit("platform.replace", {
        plugin: name,
        old_runtime_id: old?.runtimeId,
        runtime_id: next.runtimeId,
      });
      return status(entry);
    },
    impact(name) {
      return impactOfRemoval(
        name,
        [...entries.values()].map((e) => e.spec),
      );
    },
    list: () => [...entries.values()].map(status),
    get(name) {
      const entry = entries.get(name);
      return entry ? status(entry) : undefined;
    },
    async close() {
      closed = true;
      const specs = [...entries.values()].map((e) => e.spec);
      let order: ManagedPluginSpec[];
      try {
        order = startupOrder(specs, () => true).reverse();
      } catch {
        order = specs.reverse();
      }
      for (const spec of order) {
        await platform
          .remove(spec.name, { force: true })
          .catch((error: unknown) =>
            deps.logger.error("could not stop managed plugin", { plugin: spec.name, error }),
          );
      }
    },
  };
  return platform;
}
