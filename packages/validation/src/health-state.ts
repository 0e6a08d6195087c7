import { HealthStateSchema } from "@cpg/protocol";
import { ValidationError } from "./validation-error.js";

const KNOWN = new Set(HealthStateSchema.values.map((value) => value.number));
const RANGE = `${Math.min(...KNOWN)}..${Math.max(...KNOWN)}`;

/**
 * Checks that a health report's `state` is a `HealthState` the protocol
 * defines (0..3: UNSPECIFIED, HEALTHY, DEGRADED, UNHEALTHY). Protobuf keeps
 * unknown enum numbers, so a peer can send any int32.
 *
 * @throws ValidationError with field `state` and code `unknown_value`, e.g.
 * `health state 7 is not a known value (known: 0..3)`.
 * @private
 */
export function checkHealthState(state: number): void {
  if (!KNOWN.has(state)) {
    throw new ValidationError(
      `health state ${String(state)} is not a known value (known: ${RANGE})`,
      {
        field: "state",
        code: "unknown_value",
      },
    );
  }
}
