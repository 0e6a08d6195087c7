import { type ContextValues, createContextKey } from "@connectrpc/connect";

/**
 * A capability grant: who may call which capability, until when.
 */
export interface CapabilityGrant {
  /** Grant id (the `{grant_id}` URL segment). */
  readonly grantId: string;
  /** Bearer token of the grant. */
  readonly token: string;
  /** Capability type the grant is for. */
  readonly capabilityType: string;
  /** Runtime id the grant is bound to. */
  readonly runtimeId: string;
  /** self_id of that runtime. */
  readonly selfId: string;
  /** Why the plugin asked, as it said. */
  readonly reason: string;
  /** Expiry, Unix milliseconds. */
  readonly expiresAt: number;
}

/**
 * Context key under which capability implementations find the grant of the
 * call (without its token).
 */
export const capabilityGrantKey = createContextKey<Omit<CapabilityGrant, "token"> | undefined>(
  undefined,
  { description: "cpg capability grant" },
);

/**
 * The grant behind a capability call, for capability implementations:
 * `ctx.values` in a handler.
 *
 * @example
 * ```ts
 * log(req, ctx) {
 *   const grant = getCapabilityGrant(ctx.values);
 *   console.log(`${grant?.selfId}: ${req.message}`);
 * }
 * ```
 */
export function getCapabilityGrant(
  values: ContextValues,
): Omit<CapabilityGrant, "token"> | undefined {
  return values.get(capabilityGrantKey);
}
