/**
 * @cpg/host: the cpg plugin host.
 *
 * @example
 * ```ts
 * import { createHost } from "@cpg/host";
 *
 * const host = createHost();
 * const { url } = await host.listen({ port: 8080 });
 * ```
 *
 * @packageDocumentation
 */

export type { JsonLoggerOptions, LogFields, Logger, LogLevel } from "@cpg/plugin-sdk";
export { createJsonLogger, redact, silentLogger } from "@cpg/plugin-sdk";
export type {
  EventStream,
  ListenerTlsOptions,
  NodeRequestHandler,
  ServingState,
  ServingStatusRegistry,
} from "@cpg/plugin-sdk/internal";
export type { AdminAccess, OperatorRole } from "./admin/operator-authenticator.js";
export { OPERATOR_PROVIDER } from "./admin/operator-authenticator.js";
export type { AuditEvent, AuditSink } from "./audit/audit-sink.js";
export { createJsonLinesAuditSink } from "./audit/audit-sink.js";
export type { CapabilityGrant } from "./broker/capability-grant.js";
export { capabilityGrantKey, getCapabilityGrant } from "./broker/capability-grant.js";
export type { CapabilityRegistry, HostCapability } from "./broker/capability-registry.js";
export type { GrantStore } from "./broker/grant-store.js";
export { loggerCapability } from "./capabilities/logger-capability.js";
export type { StoreCapabilityLimits } from "./capabilities/store-capability.js";
export { storeCapability } from "./capabilities/store-capability.js";
export type { HostConfig, HostConfigFile } from "./config/host-config.js";
export { loadHostConfigFile, resolveHostConfig } from "./config/host-config.js";
export type { HostEvent } from "./events/host-event.js";
export type { PluginHealth, PluginHealthTable } from "./health/plugin-health.js";
export type { Host, ListenOptions } from "./host.js";
export { createHost } from "./host.js";
export type { HostErrorCode } from "./host-error.js";
export { HostError, isHostError } from "./host-error.js";
export type {
  HostMetricsSettings,
  HostOptions,
  HostPolicies,
  HostRateLimits,
  HostRouterOptions,
  RateLimitSetting,
} from "./host-options.js";
export { HOST_VERSION } from "./host-options.js";
export type { RuntimeIdentities } from "./identity/runtime-identities.js";
export type { RuntimeIdentity } from "./identity/runtime-identity.js";
export type { AdoptedPlugin, AdoptPluginOptions } from "./managed/adopt-plugin.js";
export type { HostMetrics, HostMetricsOptions } from "./observability/host-metrics.js";
export { createHostMetrics } from "./observability/host-metrics.js";
export type { HostSpan, HostTracer } from "./observability/host-tracer.js";
export { TRACEPARENT_HEADER } from "./observability/host-tracer.js";
export { METRICS_PATH } from "./observability/metrics-endpoint.js";
export { validateBinaryPath } from "./platform/binary-path.js";
export { impactOfRemoval, startupOrder } from "./platform/dependency-graph.js";
export type {
  LaunchStrategy,
  ManagedPluginSpec,
  ProvidedServiceSpec,
  RequiredServiceSpec,
} from "./platform/managed-plugin-spec.js";
export type {
  ManagedPluginState,
  ManagedPluginStatus,
  Platform,
  PlatformOptions,
} from "./platform/platform.js";
export type { AllowLists } from "./policy/allow-list-policy.js";
export type { Registration } from "./registry/registration.js";
export type { SelectionStrategy } from "./registry/selection-strategy.js";
export type { ServiceRegistry } from "./registry/service-registry.js";
export type { ServiceRouter } from "./router/service-router.js";
export { isPublicService } from "./security/public-procedures.js";
export { RUNTIME_TOKEN_PROVIDER } from "./security/runtime-token-authenticator.js";
export type { ProfileDefaults, SecurityProfile } from "./security/security-profile.js";
export { PROFILE_DEFAULTS } from "./security/security-profile.js";
export { DISABLE_TLS_WARNING_ENV } from "./security/tls-warning.js";
