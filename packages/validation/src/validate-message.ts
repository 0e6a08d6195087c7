import {
  BASE_URL_METADATA_KEY,
  type DiscoverServiceRequest,
  type HandshakeRequest,
  type RegisterServiceRequest,
  type ReportHealthRequest,
  type RequestCapabilityRequest,
  type UnregisterServiceRequest,
  type WatchServiceRequest,
} from "@cpg/protocol";
import { validateBaseUrl } from "./base-url.js";
import { validateCapabilityType } from "./capability-type.js";
import { validateDependencyList } from "./dependency-list.js";
import { validateEndpointPath } from "./endpoint-path.js";
import { validateGrantReason } from "./grant-reason.js";
import { validateHealthReason } from "./health-reason.js";
import { checkHealthState } from "./health-state.js";
import { validateClientMetadata, validateMetadata } from "./metadata.js";
import { validateMinVersion } from "./min-version.js";
import { validateRegistrationId } from "./registration-id.js";
import { checkRequestedPlugins } from "./requested-plugins.js";
import { checkSelfVersion } from "./self-version.js";
import { validateServiceType } from "./service-type.js";
import {
  type ResolvedValidationOptions,
  resolveValidationOptions,
  type ValidationOptions,
} from "./validation-options.js";
import { validateVersion } from "./version.js";

type MessageCheck = (message: never, options: ResolvedValidationOptions) => void;

function on<T extends { $typeName: string }>(
  typeName: T["$typeName"],
  check: (message: T, options: ResolvedValidationOptions) => void,
): [string, MessageCheck] {
  return [typeName, check];
}

/** The checks of every request message cpg validates, by `$typeName`. */
const CHECKS: ReadonlyMap<string, MessageCheck> = new Map([
  on<HandshakeRequest>("connectplugin.v1.HandshakeRequest", (m, o) => {
    // self_id is left to the handshake handler: see validateSelfId.
    validateClientMetadata(m.clientMetadata, o);
    checkRequestedPlugins(m.requestedPlugins, o);
    checkSelfVersion(m.selfVersion, o);
  }),
  on<RegisterServiceRequest>("connectplugin.v1.RegisterServiceRequest", (m, o) => {
    validateServiceType(m.serviceType, o);
    validateVersion(m.version, o);
    validateEndpointPath(m.endpointPath, o);
    validateMetadata(m.metadata, o);
    if (Object.hasOwn(m.metadata, BASE_URL_METADATA_KEY)) {
      validateBaseUrl(m.metadata[BASE_URL_METADATA_KEY]!, o);
    }
  }),
  on<UnregisterServiceRequest>("connectplugin.v1.UnregisterServiceRequest", (m, o) => {
    validateRegistrationId(m.registrationId, o);
  }),
  on<DiscoverServiceRequest>("connectplugin.v1.DiscoverServiceRequest", (m, o) => {
    validateServiceType(m.serviceType, o);
    validateMinVersion(m.minVersion, o);
  }),
  on<WatchServiceRequest>("connectplugin.v1.WatchServiceRequest", (m, o) => {
    validateServiceType(m.serviceType, o);
  }),
  on<ReportHealthRequest>("connectplugin.v1.ReportHealthRequest", (m, o) => {
    checkHealthState(m.state);
    validateHealthReason(m.reason, o);
    validateDependencyList(m.unavailableDependencies, o);
  }),
  on<RequestCapabilityRequest>("connectplugin.v1.RequestCapabilityRequest", (m, o) => {
    validateCapabilityType(m.capabilityType, o);
    validateMinVersion(m.minVersion, o);
    validateGrantReason(m.reason, o);
  }),
]);

/**
 * The `$typeName`s of the request messages that {@link validateMessage}
 * checks; every other message passes untouched.
 */
export const VALIDATED_MESSAGE_TYPES: readonly string[] = Object.freeze([...CHECKS.keys()]);

/**
 * Validates a cpg protocol request message by its `$typeName`, with the
 * rules of the wire contract:
 *
 * - `HandshakeRequest`: `client_metadata` (metadata rules),
 *   `requested_plugins` (at most 100, each at most 128 bytes, no NUL),
 *   `self_version` (at most 64 bytes, no NUL). Not `self_id`: the handshake
 *   handler checks it with {@link validateSelfId} after the cookie and
 *   protocol versions, as the contract orders.
 * - `RegisterServiceRequest`: `service_type`, `version`, `endpoint_path`,
 *   `metadata`, and `metadata.base_url` when present (see
 *   {@link validateBaseUrl}, with `options.allowedHosts`).
 * - `UnregisterServiceRequest`: `registration_id`.
 * - `DiscoverServiceRequest`: `service_type`, `min_version` (empty or a version).
 * - `WatchServiceRequest`: `service_type`.
 * - `ReportHealthRequest`: `state` (0..3), `reason`, `unavailable_dependencies`.
 * - `RequestCapabilityRequest`: `capability_type`, `min_version`, `reason`.
 *
 * Any other message (responses, `SetRuntimeIdentityRequest`, messages of
 * other services) passes. Checks run in field order and stop at the first
 * problem.
 *
 * @throws ValidationError naming the first invalid field.
 *
 * @example
 * ```ts
 * validateMessage(create(DiscoverServiceRequestSchema, { serviceType: "kv", minVersion: "1.0.0" }));
 * ```
 */
export function validateMessage(
  message: { readonly $typeName: string },
  options?: ValidationOptions,
): void {
  if (typeof message !== "object" || message === null) {
    return;
  }
  const check = CHECKS.get(message.$typeName);
  if (check !== undefined) {
    check(message as never, resolveValidationOptions(options));
  }
}
