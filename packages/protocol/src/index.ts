/**
 * @cpg/protocol: the cpg wire contract.
 *
 * Generated Connect service descriptors for every service in `proto/`, plus the
 * wire facts shared with connect-plugin-go: header names, the magic cookie,
 * protocol versions and the router and capability URL forms.
 *
 * @example
 * ```ts
 * import { HandshakeService, MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE } from "@cpg/protocol";
 * ```
 *
 * @packageDocumentation
 */

export type { CapabilityRoute } from "./capability-url.js";
export {
  BROKER_PATH_PREFIX,
  CAPABILITIES_PATH_PREFIX,
  capabilityEndpointUrl,
  parseCapabilityRoute,
} from "./capability-url.js";
export {
  BASE_URL_METADATA_KEY,
  CLIENT_VERSION_METADATA_KEY,
  CORE_PROTOCOL_VERSION,
  DEFAULT_APP_PROTOCOL_VERSION,
  MAGIC_COOKIE_KEY,
  MAGIC_COOKIE_VALUE,
  SERVER_VERSION_METADATA_KEY,
} from "./constants.js";
// capability.logger.v1
export * from "./gen/capability/logger/v1/logger_pb.js";
// capability.store.v1 (a cpg capability) shares message names with other
// packages, so it lives in its own namespace.
export * as storeV1 from "./gen/capability/store/v1/store_pb.js";
// cpg.admin.v1: the host's operator API.
export * as adminV1 from "./gen/cpg/admin/v1/admin_pb.js";
export * as grpcHealthV1 from "./gen/grpc/health/v1/health_pb.js";
export * from "./gen/plugin/v1/broker_pb.js";

// connectplugin.v1
export * from "./gen/plugin/v1/handshake_pb.js";
// connectplugin.health.v1 and grpc.health.v1 share message names, so each
// lives in its own namespace.
export * as pluginHealthV1 from "./gen/plugin/v1/health_pb.js";
export * from "./gen/plugin/v1/lifecycle_pb.js";
export * from "./gen/plugin/v1/plugininfo_pb.js";
export * from "./gen/plugin/v1/registry_pb.js";
export {
  API_KEY_HEADER,
  AUTHORIZATION_HEADER,
  BEARER_PREFIX,
  bearer,
  CALLER_ID_HEADER,
  parseBearer,
  RUNTIME_ID_HEADER,
} from "./headers.js";
export type { ServiceRoute } from "./service-url.js";
export {
  joinProviderPath,
  parseServiceRoute,
  SERVICES_PATH_PREFIX,
  serviceEndpointUrl,
} from "./service-url.js";
