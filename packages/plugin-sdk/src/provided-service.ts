import type { DescService } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";

/**
 * A service a plugin provides: a protoc-gen-es service descriptor with its
 * implementation. Type, version and path are derived from the descriptor
 * unless given.
 */
export interface ProvidedService<S extends DescService = DescService> {
  /** The generated service descriptor, e.g. `KVService` from `kv_pb.js`. */
  readonly service: S;
  /** The implementation, as for `router.service(...)`. */
  readonly implementation: Partial<ServiceImpl<S>>;
  /**
   * Service type other plugins discover it by. Default: the service name
   * without a `Service` suffix, lower-cased (`KVService` -> `kv`,
   * `Logger` -> `logger`).
   */
  readonly type?: string;
  /** Semantic version of the service. Default: the plugin's version. */
  readonly version?: string;
}

/**
 * A provided service with everything derived.
 */
export interface ServiceDeclarationInfo {
  readonly type: string;
  readonly version: string;
  /** `/<package>.<Service>/`, relative to the plugin base URL. */
  readonly path: string;
  readonly service: DescService;
}

/**
 * The default service type of a descriptor: its name without a `Service`
 * suffix, lower-cased.
 */
export function defaultServiceType(service: DescService): string {
  const name =
    service.name.endsWith("Service") && service.name.length > 7
      ? service.name.slice(0, -7)
      : service.name;
  return name.toLowerCase();
}

/**
 * Derives type, version and path of a provided service.
 */
export function describeProvidedService(
  provided: ProvidedService,
  pluginVersion: string,
): ServiceDeclarationInfo {
  return {
    type: provided.type ?? defaultServiceType(provided.service),
    version: provided.version ?? pluginVersion,
    path: `/${provided.service.typeName}/`,
    service: provided.service,
  };
}

/**
 * Helper that keeps the implementation typed against its descriptor.
 *
 * @example
 * ```ts
 * provide(KVService, { get: (req) => ({ value: store.get(req.key) ?? "" }) })
 * ```
 */
export function provide<S extends DescService>(
  service: S,
  implementation: Partial<ServiceImpl<S>>,
  options: { type?: string; version?: string } = {},
): ProvidedService<S> {
  return { service, implementation, ...options };
}
