// One row per rule of the "Validation rules" section of the wire contract
// (docs: shared/spec/wire.md), with the exact message cpg sends.
import { describe, expect, it } from "vitest";
import { validateEndpointPath } from "./endpoint-path.js";
import { validateMetadata } from "./metadata.js";
import { satisfiesMinVersion } from "./satisfies-min-version.js";
import { validateSelfId } from "./self-id.js";
import { validateServiceType } from "./service-type.js";
import { caught, describeError } from "./test-arbitraries.js";
import type { ValidationErrorCode } from "./validation-error.js";
import { validateVersion } from "./version.js";

const PATTERN = 'must start with a letter and contain only letters, digits, "_", ".", "-"';
const SEMANTIC = 'must be semantic (MAJOR.MINOR.PATCH[-prerelease]) without a "v" prefix';

type Row = [
  rule: string,
  run: () => void,
  message: string,
  field: string,
  code: ValidationErrorCode,
  limit?: number,
];

const rows: Row[] = [
  // Lengths in UTF-8 bytes.
  [
    "lengths are UTF-8 bytes",
    () => validateServiceType("ж".repeat(65)),
    "service type too long: 130 bytes (max: 128)",
    "service_type",
    "too_long",
    128,
  ],
  // service type: non-empty, <= 128, identifier pattern, no "..".
  [
    "service type non-empty",
    () => validateServiceType(""),
    "service type must not be empty",
    "service_type",
    "empty",
  ],
  [
    "service type <= 128",
    () => validateServiceType("s".repeat(130)),
    "service type too long: 130 bytes (max: 128)",
    "service_type",
    "too_long",
    128,
  ],
  [
    "service type starts with an ASCII letter",
    () => validateServiceType("1abc"),
    `service type "1abc" ${PATTERN}`,
    "service_type",
    "invalid_format",
  ],
  [
    "service type ASCII letters only",
    () => validateServiceType("kv-stоre"),
    `service type "kv-stоre" ${PATTERN}`,
    "service_type",
    "invalid_format",
  ],
  [
    "service type allowed characters",
    () => validateServiceType("kv/store"),
    `service type "kv/store" ${PATTERN}`,
    "service_type",
    "invalid_format",
  ],
  [
    "service type no ..",
    () => validateServiceType("kv..store"),
    'service type "kv..store" must not contain ".."',
    "service_type",
    "invalid_format",
  ],
  // self_id: non-empty, <= 128, identifier pattern.
  ["self_id non-empty", () => validateSelfId(""), "self ID must not be empty", "self_id", "empty"],
  [
    "self_id <= 128",
    () => validateSelfId("p".repeat(129)),
    "self ID too long: 129 bytes (max: 128)",
    "self_id",
    "too_long",
    128,
  ],
  [
    "self_id identifier pattern",
    () => validateSelfId("-plugin"),
    `self ID "-plugin" ${PATTERN}`,
    "self_id",
    "invalid_format",
  ],
  // version: non-empty, <= 64, MAJOR.MINOR.PATCH[-prerelease], no v prefix.
  ["version non-empty", () => validateVersion(""), "version must not be empty", "version", "empty"],
  [
    "version <= 64",
    () => validateVersion(`1.0.0-${"r".repeat(59)}`),
    "version too long: 65 bytes (max: 64)",
    "version",
    "too_long",
    64,
  ],
  [
    "version no v prefix",
    () => validateVersion("v1.0.0"),
    `version "v1.0.0" ${SEMANTIC}`,
    "version",
    "invalid_format",
  ],
  [
    "version MAJOR.MINOR.PATCH",
    () => validateVersion("1.0"),
    `version "1.0" ${SEMANTIC}`,
    "version",
    "invalid_format",
  ],
  [
    "version prerelease only after -",
    () => validateVersion("1.0.0+build"),
    `version "1.0.0+build" ${SEMANTIC}`,
    "version",
    "invalid_format",
  ],
  // endpoint path: non-empty, starts with /, <= 256, no NUL.
  [
    "endpoint path non-empty",
    () => validateEndpointPath(""),
    "endpoint path must not be empty",
    "endpoint_path",
    "empty",
  ],
  [
    "endpoint path starts with /",
    () => validateEndpointPath("kv.v1.KV/"),
    'endpoint path must start with "/"',
    "endpoint_path",
    "invalid_format",
  ],
  [
    "endpoint path <= 256",
    () => validateEndpointPath(`/${"p".repeat(256)}`),
    "endpoint path too long: 257 bytes (max: 256)",
    "endpoint_path",
    "too_long",
    256,
  ],
  [
    "endpoint path no NUL",
    () => validateEndpointPath("/kv\u0000"),
    "endpoint path contains a NUL byte",
    "endpoint_path",
    "forbidden_character",
  ],
  // metadata: <= 100 entries; key non-empty, <= 256, identifier pattern; value <= 4096, no NUL.
  [
    "metadata <= 100 entries",
    () =>
      validateMetadata(Object.fromEntries(Array.from({ length: 101 }, (_, i) => [`k${i}`, ""]))),
    "metadata has too many entries: 101 (max: 100)",
    "metadata",
    "too_many",
    100,
  ],
  [
    "metadata key non-empty",
    () => validateMetadata({ "": "v" }),
    "metadata key must not be empty",
    "metadata.key",
    "empty",
  ],
  [
    "metadata key <= 256",
    () => validateMetadata({ ["k".repeat(300)]: "v" }),
    "metadata key too long: 300 bytes (max: 256)",
    "metadata.key",
    "too_long",
    256,
  ],
  [
    "metadata key identifier pattern",
    () => validateMetadata({ "x-ü": "v" }),
    `metadata key "x-ü" ${PATTERN}`,
    "metadata.key",
    "invalid_format",
  ],
  [
    "metadata value <= 4096",
    () => validateMetadata({ k: "v".repeat(4097) }),
    'metadata value for "k" too long: 4097 bytes (max: 4096)',
    "metadata.value",
    "too_long",
    4096,
  ],
  [
    "metadata value no NUL",
    () => validateMetadata({ k: "\u0000" }),
    'metadata value for "k" contains a NUL byte',
    "metadata.value",
    "forbidden_character",
  ],
];

describe("wire contract validation rules", () => {
  it.each(rows)("%s", (_rule, run, message, field, code, limit) => {
    expect(describeError(caught(run))).toEqual({ message, field, code, limit });
  });

  it.each([
    ["service type at the limit", () => validateServiceType("s".repeat(128))],
    ["self_id at the limit", () => validateSelfId("p".repeat(128))],
    ["version with prerelease", () => validateVersion("2.1.3-beta")],
    ["version at the limit", () => validateVersion(`1.0.0-${"r".repeat(58)}`)],
    ["endpoint path at the limit", () => validateEndpointPath(`/${"p".repeat(255)}`)],
    ["metadata at the limits", () => validateMetadata({ ["k".repeat(256)]: "v".repeat(4096) })],
  ])("accepts %s", (_rule, run) => {
    expect(caught(run)).toBeUndefined();
  });

  it('"10.0.0" satisfies min_version "9.0.0"', () => {
    expect(satisfiesMinVersion("10.0.0", "9.0.0")).toBe(true);
  });

  it('"1.0.0-beta" does not satisfy min_version "1.0.0"', () => {
    expect(satisfiesMinVersion("1.0.0-beta", "1.0.0")).toBe(false);
  });
});
