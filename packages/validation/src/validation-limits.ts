/**
 * The size and count limits the validators enforce. Lengths are UTF-8 bytes.
 * Every limit is configurable through {@link ValidationOptions.limits}; the
 * defaults ({@link DEFAULT_VALIDATION_LIMITS}) are the values of the wire
 * contract shared with connect-plugin-go, plus cpg's own limits for fields the
 * Go original leaves unchecked.
 */
export interface ValidationLimits {
  /** Longest service type (registration, discovery, watch). Default: 128 (wire contract). */
  readonly maxServiceTypeBytes: number;
  /** Longest self_id in the handshake. Default: 128 (wire contract). */
  readonly maxSelfIdBytes: number;
  /** Longest version, min_version and handshake self_version. Default: 64 (wire contract). */
  readonly maxVersionBytes: number;
  /** Longest semver range given to `satisfiesVersionRange`. Default: 256. */
  readonly maxVersionRangeBytes: number;
  /** Longest registration endpoint path. Default: 256 (wire contract). */
  readonly maxEndpointPathBytes: number;
  /** Most entries in a metadata or client_metadata map. Default: 100 (wire contract). */
  readonly maxMetadataEntries: number;
  /** Longest metadata or client_metadata key. Default: 256 (wire contract). */
  readonly maxMetadataKeyBytes: number;
  /** Longest metadata or client_metadata value. Default: 4096 (wire contract). */
  readonly maxMetadataValueBytes: number;
  /** Longest `base_url` registration metadata value. Default: 2048. */
  readonly maxBaseUrlBytes: number;
  /** Longest capability type in a capability request. Default: 128 (as service type). */
  readonly maxCapabilityTypeBytes: number;
  /** Longest reason of a capability request (grant reason). Default: 1024. */
  readonly maxGrantReasonBytes: number;
  /** Longest reason of a health report. Default: 1024. */
  readonly maxHealthReasonBytes: number;
  /** Most entries in a health report's unavailable_dependencies. Default: 100. */
  readonly maxDependencies: number;
  /** Longest registration_id of an unregistration. Default: 128. */
  readonly maxRegistrationIdBytes: number;
  /** Most entries in a handshake's requested_plugins. Default: 100. */
  readonly maxRequestedPlugins: number;
  /** Longest entry of a handshake's requested_plugins. Default: 128. */
  readonly maxRequestedPluginBytes: number;
}

/**
 * The default {@link ValidationLimits}: the wire contract's values
 * (service type and self_id 128, version 64, endpoint path 256, metadata 100
 * entries with keys of 256 and values of 4096 bytes) and cpg's limits for the
 * remaining fields (reasons 1024 bytes, lists 100 entries, identifiers 128
 * bytes, base URL 2048 bytes, version ranges 256 bytes). Frozen.
 */
export const DEFAULT_VALIDATION_LIMITS: Readonly<ValidationLimits> = Object.freeze({
  maxServiceTypeBytes: 128,
  maxSelfIdBytes: 128,
  maxVersionBytes: 64,
  maxVersionRangeBytes: 256,
  maxEndpointPathBytes: 256,
  maxMetadataEntries: 100,
  maxMetadataKeyBytes: 256,
  maxMetadataValueBytes: 4096,
  maxBaseUrlBytes: 2048,
  maxCapabilityTypeBytes: 128,
  maxGrantReasonBytes: 1024,
  maxHealthReasonBytes: 1024,
  maxDependencies: 100,
  maxRegistrationIdBytes: 128,
  maxRequestedPlugins: 100,
  maxRequestedPluginBytes: 128,
});
