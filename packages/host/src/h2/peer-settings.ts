import { DEFAULT_MAX_FRAME_SIZE, ErrorCode, MAX_WINDOW, Setting } from "./frame.js";

/** What the peer's SETTINGS frame changes for this endpoint; absent: unchanged. */
export interface PeerSettings {
  maxConcurrentStreams?: number;
  initialWindowSize?: number;
  maxFrameSize?: number;
}

/** A SETTINGS frame that breaks RFC 9113 §6.5: the connection error to end with. */
export interface SettingsError {
  readonly code: number;
  readonly what: string;
}

/**
 * Reads the payload of a SETTINGS frame (not an ACK) and checks its values
 * (RFC 9113 §6.5.2). HEADER_TABLE_SIZE is not returned (the package's HPACK
 * encoder never uses the dynamic table), MAX_HEADER_LIST_SIZE is advisory,
 * and unknown settings are ignored.
 */
export function parsePeerSettings(payload: Buffer): PeerSettings | SettingsError {
  if (payload.length % 6 !== 0) {
    return { code: ErrorCode.FRAME_SIZE_ERROR, what: "a SETTINGS frame of a bad length" };
  }
  const settings: PeerSettings = {};
  for (let i = 0; i < payload.length; i += 6) {
    const id = payload.readUInt16BE(i);
    const value = payload.readUInt32BE(i + 2);
    switch (id) {
      case Setting.MAX_CONCURRENT_STREAMS:
        settings.maxConcurrentStreams = value;
        break;
      case Setting.INITIAL_WINDOW_SIZE:
        if (value > MAX_WINDOW) {
          return { code: ErrorCode.FLOW_CONTROL_ERROR, what: "an initial window over 2^31-1" };
        }
        settings.initialWindowSize = value;
        break;
      case Setting.MAX_FRAME_SIZE:
        if (value < DEFAULT_MAX_FRAME_SIZE || value > 0xffffff) {
          return { code: ErrorCode.PROTOCOL_ERROR, what: `a max frame size of ${value}` };
        }
        settings.maxFrameSize = value;
        break;
      case Setting.ENABLE_PUSH:
        if (value > 1) {
          return { code: ErrorCode.PROTOCOL_ERROR, what: "ENABLE_PUSH other than 0 or 1" };
        }
        break;
      default:
        break;
    }
  }
  return settings;
}

/** Whether {@link parsePeerSettings} refused the frame. */
export function isSettingsError(result: PeerSettings | SettingsError): result is SettingsError {
  return "code" in result;
}
