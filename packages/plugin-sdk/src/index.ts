/**
 * @cpg/plugin-sdk: write cpg plugins.
 *
 * @example
 * ```ts
 * import { provide, runPlugin } from "@cpg/plugin-sdk";
 *
 * await runPlugin({ selfId: "kv-store", version: "1.0.0", services: [provide(KVService, impl)] });
 * ```
 *
 * @packageDocumentation
 */

export type { EventStream } from "./events/event-stream.js";
export type { RuntimeCredentials } from "./host-link/host-session.js";
export type { ClientTlsOptions, HostProtocol } from "./host-link/host-transport.js";
export { createHostTransport } from "./host-link/host-transport.js";
export type { JsonLoggerOptions, LogFields, Logger, LogLevel } from "./logging/logger.js";
export { createJsonLogger, redact, silentLogger } from "./logging/logger.js";
export type { Plugin, ShutdownRequest } from "./plugin.js";
export { createPlugin, SDK_VERSION } from "./plugin.js";
export type { PluginErrorCode } from "./plugin-error.js";
export { isPluginError, PluginError } from "./plugin-error.js";
export type { PluginHealthReport } from "./plugin-health.js";
export { HEALTHY } from "./plugin-health.js";
export type { PluginOptions, RequiredService } from "./plugin-options.js";
export type { ProvidedService, ServiceDeclarationInfo } from "./provided-service.js";
export { defaultServiceType, provide } from "./provided-service.js";
export type { RunPluginOptions } from "./run-plugin.js";
export {
  PARENT_WATCH_ENV,
  PORT_ANNOUNCE_ENV,
  PORT_ANNOUNCE_PREFIX,
  runPlugin,
} from "./run-plugin.js";
export type { ListenerTlsOptions } from "./server/node-listener.js";

// Resilience

export type {
  CircuitBreakerInterceptor,
  CircuitBreakerOptions,
  CircuitState,
} from "./resilience/circuit-breaker-interceptor.js";
export {
  createCircuitBreakerInterceptor,
  DEFAULT_FAILURE_CODES,
} from "./resilience/circuit-breaker-interceptor.js";
export type { RetryOptions } from "./resilience/retry-interceptor.js";
export { createRetryInterceptor, DEFAULT_RETRYABLE_CODES } from "./resilience/retry-interceptor.js";
