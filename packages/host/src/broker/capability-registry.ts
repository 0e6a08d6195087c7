import type { DescService } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import { validateCapabilityType, validateVersion } from "@cpg/validation";
import { HostError } from "../host-error.js";

/**
 * A host capability: a Connect service implementation offered to plugins
 * through the broker under a capability type and version.
 */
export interface HostCapability<S extends DescService = DescService> {
  /** Capability type plugins request, e.g. `"logger"`. */
  readonly type: string;
  /** Semantic version, checked against `min_version`. */
  readonly version: string;
  /** The service descriptor. */
  readonly service: S;
  /** Its implementation; handlers find the caller with `getCapabilityGrant(ctx.values)`. */
  readonly implementation: Partial<ServiceImpl<S>>;
}

/**
 * The capabilities a host offers.
 */
export interface CapabilityRegistry {
  /** Adds a capability; throws `HostError` (`invalid_config`) for a duplicate type. */
  register<S extends DescService>(capability: HostCapability<S>): void;
  /** A capability by type. */
  get(type: string): HostCapability | undefined;
  /** Every capability, in registration order. */
  list(): HostCapability[];
}

/**
 * Creates a {@link CapabilityRegistry}; `onChange` runs after each addition.
 */
export function createCapabilityRegistry(
  onChange: (capability: HostCapability) => void,
): CapabilityRegistry {
  const byType = new Map<string, HostCapability>();
  return {
    register(capability) {
      try {
        validateCapabilityType(capability.type);
        validateVersion(capability.version);
      } catch (error) {
        throw new HostError(
          "invalid_config",
          `capability ${JSON.stringify(capability.type)}: ${(error as Error).message}`,
        );
      }
      if (byType.has(capability.type)) {
        throw new HostError(
          "invalid_config",
          `capability "${capability.type}" is already registered`,
        );
      }
      const c = capability as unknown as HostCapability;
      byType.set(capability.type, c);
      onChange(c);
    },
    get: (type) => byType.get(type),
    list: () => [...byType.values()],
  };
}
