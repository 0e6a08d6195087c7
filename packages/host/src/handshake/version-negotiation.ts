import { DEFAULT_APP_PROTOCOL_VERSION } from "@cpg/protocol";

/**
 * Picks the application protocol version for a handshake: the highest
 * version both sides support. A plugin offers either the cpg extension list
 * `app_protocol_versions` or, like connect-plugin-go, the single
 * `app_protocol_version` (0, the proto3 default, means version 1).
 * Returns `undefined` when there is no common version.
 */
export function negotiateAppProtocolVersion(
  offered: { appProtocolVersion: number; appProtocolVersions: readonly number[] },
  supported: readonly number[],
): number | undefined {
  const offers =
    offered.appProtocolVersions.length > 0
      ? offered.appProtocolVersions
      : [
          offered.appProtocolVersion === 0
            ? DEFAULT_APP_PROTOCOL_VERSION
            : offered.appProtocolVersion,
        ];
  let best: number | undefined;
  for (const v of offers) {
    if (supported.includes(v) && (best === undefined || v > best)) best = v;
  }
  return best;
}

/**
 * The versions a plugin offered, for error messages.
 */
export function offeredVersions(offered: {
  appProtocolVersion: number;
  appProtocolVersions: readonly number[];
}): readonly number[] {
  return offered.appProtocolVersions.length > 0
    ? offered.appProtocolVersions
    : [offered.appProtocolVersion];
}
