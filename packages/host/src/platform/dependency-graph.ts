import { satisfiesMinVersion } from "@cpg/validation";
import { HostError } from "../host-error.js";
import type { ManagedPluginSpec } from "./managed-plugin-spec.js";

/**
 * Orders plugins so that every plugin starts after the plugins that provide
 * the services it requires for startup (semver-aware: a provider counts only
 * when its version satisfies `minVersion`). Services already available on the
 * host (`available`) need no provider among `specs`. Throws `HostError`
 * (`invalid_config`) naming the cycle, e.g. `a -> b -> a`, or the missing
 * service.
 */
export function startupOrder(
  specs: readonly ManagedPluginSpec[],
  available: (type: string, minVersion: string) => boolean = () => false,
): ManagedPluginSpec[] {
  const byName = new Map(specs.map((s) => [s.name, s]));
  const edges = new Map<string, string[]>();
  for (const spec of specs) {
    const deps: string[] = [];
    for (const req of spec.requires ?? []) {
      if (req.requiredForStartup === false) continue;
      const min = req.minVersion ?? "";
      const providers = specs.filter(
        (p) =>
          p.name !== spec.name &&
          (p.provides ?? []).some(
            (s) => s.type === req.type && (min === "" || satisfiesMinVersion(s.version, min)),
          ),
      );
      if (providers.length === 0) {
        if (available(req.type, min)) continue;
        throw new HostError(
          "invalid_config",
          `plugin "${spec.name}" requires "${req.type}"${min ? ` >= ${min}` : ""}, which no plugin provides`,
        );
      }
      deps.push(...providers.map((p) => p.name));
    }
    edges.set(spec.name, deps);
  }
  const order: ManagedPluginSpec[] = [];
  const state = new Map<string, "visiting" | "done">();
  const visit = (name: string, path: string[]) => {
    if (state.get(name) === "done") return;
    if (state.get(name) === "visiting") {
      const cycle = [...path.slice(path.indexOf(name)), name];
      throw new HostError("invalid_config", `dependency cycle: ${cycle.join(" -> ")}`);
    }
    state.set(name, "visiting");
    for (const dep of edges.get(name) ?? []) visit(dep, [...path, name]);
    state.set(name, "done");
    order.push(byName.get(name)!);
  };
  for (const spec of specs) visit(spec.name, []);
  return order;
}

/**
 * The plugins that would lose a service they require for startup if
 * `removed` went away: every other provider of that service (at a
 * satisfying version) is gone too, or there is none.
 */
export function impactOfRemoval(
  removed: string,
  specs: readonly ManagedPluginSpec[],
): Array<{ plugin: string; service: string }> {
  const rest = specs.filter((s) => s.name !== removed);
  const gone = specs.find((s) => s.name === removed);
  if (gone === undefined) return [];
  const lost: Array<{ plugin: string; service: string }> = [];
  for (const spec of rest) {
    for (const req of spec.requires ?? []) {
      if (req.requiredForStartup === false) continue;
      const min = req.minVersion ?? "";
      const fits = (p: ManagedPluginSpec) =>
        (p.provides ?? []).some(
          (s) => s.type === req.type && (min === "" || satisfiesMinVersion(s.version, min)),
        );
      if (fits(gone) && !rest.some((p) => p.name !== spec.name && fits(p))) {
        lost.push({ plugin: spec.name, service: req.type });
      }
    }
  }
  return lost;
}
