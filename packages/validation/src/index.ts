/**
 * @cpg/validation: validation of every plugin-provided input in cpg.
 *
 * Validators for each field of the wire contract shared with
 * connect-plugin-go, a Connect interceptor that applies them to every cpg
 * request, and semantic-version comparisons. Failures are
 * {@link ValidationError}s naming the field and the limit, sent as
 * `invalid_argument`.
 *
 * @example
 * ```ts
 * import { createValidationInterceptor } from "@cpg/validation";
 *
 * const interceptors = [createValidationInterceptor({ allowedHosts: ["10.0.0.0/8"] })];
 * ```
 *
 * @packageDocumentation
 */

// biome-ignore-all assist/source/organizeImports: house style lists user-facing exports first.

// Entry points: the interceptor and whole-message validation.
export { createValidationInterceptor } from "./validation-interceptor.js";
export { validateMessage } from "./validate-message.js";

// Errors, options and limits.
export type { ValidationErrorCode, ValidationErrorInit } from "./validation-error.js";
export { isValidationError, ValidationError } from "./validation-error.js";
export type { ValidationLimits } from "./validation-limits.js";
export { DEFAULT_VALIDATION_LIMITS } from "./validation-limits.js";
export type { ValidationOptions } from "./validation-options.js";

// Versions.
export { compareVersions } from "./compare-versions.js";
export { satisfiesMinVersion } from "./satisfies-min-version.js";
export { satisfiesVersionRange } from "./satisfies-version-range.js";

// Field validators.
export { validateServiceType } from "./service-type.js";
export { validateCapabilityType } from "./capability-type.js";
export { validateSelfId } from "./self-id.js";
export { validateVersion } from "./version.js";
export { validateMinVersion } from "./min-version.js";
export { validateEndpointPath } from "./endpoint-path.js";
export { validateClientMetadata, validateMetadata } from "./metadata.js";
export { validateBaseUrl } from "./base-url.js";
export { isHostAllowed } from "./host-allow-list.js";
export { validateRegistrationId } from "./registration-id.js";
export { validateHealthReason } from "./health-reason.js";
export { validateDependencyList } from "./dependency-list.js";
export { validateGrantReason } from "./grant-reason.js";
