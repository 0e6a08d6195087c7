import { HealthState } from "@cpg/protocol";
import type { Registration } from "./registration.js";

/**
 * How discovery picks one provider among several.
 *
 * - `first`: the earliest registration.
 * - `round-robin`: each discovery takes the next provider, per service type.
 * - `random`: uniformly at random.
 * - `weighted`: at random, in proportion to the provider's metadata `weight`
 *   (a positive integer, default 1), halved while it is DEGRADED.
 */
export type SelectionStrategy = "first" | "round-robin" | "random" | "weighted";

/**
 * Picks a provider from a non-empty candidate list (in registration order).
 */
export type Selector = (
  serviceType: string,
  candidates: readonly Registration[],
  healthOf: (runtimeId: string) => HealthState,
) => Registration;

/**
 * Weight of a provider under the `weighted` strategy.
 */
export function providerWeight(registration: Registration, health: HealthState): number {
  const raw = Number(registration.metadata.weight ?? "1");
  const weight = Number.isInteger(raw) && raw > 0 ? Math.min(raw, 1_000_000) : 1;
  return health === HealthState.DEGRADED ? weight / 2 : weight;
}

/**
 * Creates a {@link Selector} for a strategy. Round-robin keeps one small
 * counter per service type, taken modulo the current number of candidates
 * (so it stays correct when providers come and go) and kept below 2^31 (so
 * it never overflows).
 */
export function createSelector(
  strategy: SelectionStrategy,
  random: () => number = Math.random,
): Selector {
  switch (strategy) {
    case "first":
      return (_, candidates) => candidates[0]!;
    case "random":
      return (_, candidates) => candidates[Math.floor(random() * candidates.length)]!;
    case "round-robin": {
      const counters = new Map<string, number>();
      return (type, candidates) => {
        const n = counters.get(type) ?? 0;
        counters.set(type, (n + 1) % 0x7fffffff);
        return candidates[n % candidates.length]!;
      };
    }
    case "weighted":
      return (_, candidates, healthOf) => {
        const weights = candidates.map((c) => providerWeight(c, healthOf(c.runtimeId)));
        const total = weights.reduce((a, b) => a + b, 0);
        let pick = random() * total;
        for (let i = 0; i < candidates.length; i++) {
          pick -= weights[i]!;
          if (pick < 0) return candidates[i]!;
        }
        return candidates[candidates.length - 1]!;
      };
    default:
      throw new Error(
        `unknown selection strategy ${JSON.stringify(strategy)}: use first, round-robin, random or weighted`,
      );
  }
}
