import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import { storeV1 } from "@cpg/protocol";
import { getCapabilityGrant } from "../broker/capability-grant.js";
import type { HostCapability } from "../broker/capability-registry.js";

/**
 * Limits of the `store` capability.
 */
export interface StoreCapabilityLimits {
  /** Longest key, in UTF-8 bytes. Default: 256. */
  readonly maxKeyBytes?: number;
  /** Largest value, in bytes. Default: 64 KiB. */
  readonly maxValueBytes?: number;
  /** Most keys per plugin. Default: 1,000. */
  readonly maxKeysPerPlugin?: number;
}

/**
 * The `store` capability (`capability.store.v1.StoreService`, version
 * 1.0.0): a key-value store scoped to the calling plugin's self_id. A plugin
 * sees only its own keys; nothing in a request can name another plugin's
 * scope. Kept in memory by the host.
 */
export function storeCapability(
  limits: StoreCapabilityLimits = {},
): HostCapability<typeof storeV1.StoreService> {
  const maxKey = limits.maxKeyBytes ?? 256;
  const maxValue = limits.maxValueBytes ?? 64 * 1024;
  const maxKeys = limits.maxKeysPerPlugin ?? 1000;
  const scopes = new Map<string, Map<string, Uint8Array>>();

  const scope = (ctx: HandlerContext) => {
    const grant = getCapabilityGrant(ctx.values);
    if (grant === undefined)
      throw new ConnectError("store calls need a capability grant", Code.Unauthenticated);
    let s = scopes.get(grant.selfId);
    if (s === undefined) {
      s = new Map();
      scopes.set(grant.selfId, s);
    }
    return s;
  };
  const checkKey = (key: string) => {
    const bytes = Buffer.byteLength(key);
    if (bytes === 0) throw new ConnectError("key must not be empty", Code.InvalidArgument);
    if (bytes > maxKey) {
      throw new ConnectError(`key too long: ${bytes} bytes (max: ${maxKey})`, Code.InvalidArgument);
    }
    if (key.includes("\0")) throw new ConnectError("key contains a NUL byte", Code.InvalidArgument);
  };

  return {
    type: "store",
    version: "1.0.0",
    service: storeV1.StoreService,
    implementation: {
      get(req, ctx) {
        checkKey(req.key);
        const value = scope(ctx).get(req.key);
        return create(storeV1.GetResponseSchema, {
          value: value ?? new Uint8Array(),
          found: value !== undefined,
        });
      },
      put(req, ctx) {
        checkKey(req.key);
        if (req.value.length > maxValue) {
          throw new ConnectError(
            `value too large: ${req.value.length} bytes (max: ${maxValue})`,
            Code.InvalidArgument,
          );
        }
        const s = scope(ctx);
        if (!s.has(req.key) && s.size >= maxKeys) {
          throw new ConnectError(`too many keys (max: ${maxKeys})`, Code.ResourceExhausted);
        }
        s.set(req.key, req.value);
        return create(storeV1.PutResponseSchema, {});
      },
      delete(req, ctx) {
        checkKey(req.key);
        return create(storeV1.DeleteResponseSchema, { found: scope(ctx).delete(req.key) });
      },
      list(req, ctx) {
        const limit = req.limit > 0 ? Math.min(req.limit, maxKeys) : maxKeys;
        const keys = [...scope(ctx).keys()]
          .filter((k) => k.startsWith(req.prefix))
          .sort()
          .slice(0, limit);
        return create(storeV1.ListResponseSchema, { keys });
      },
    },
  };
}
