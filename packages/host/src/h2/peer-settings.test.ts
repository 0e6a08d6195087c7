import { describe, expect, it } from "vitest";
import { ErrorCode, Setting } from "./frame.js";
import { isSettingsError, parsePeerSettings } from "./peer-settings.js";

function payload(...settings: Array<[number, number]>): Buffer {
  const out = Buffer.alloc(settings.length * 6);
  settings.forEach(([id, value], i) => {
    out.writeUInt16BE(id, i * 6);
    out.writeUInt32BE(value, i * 6 + 2);
  });
  return out;
}

describe("parsePeerSettings", () => {
  it("returns the settings the client acts on, the last value of each winning", () => {
    expect(
      parsePeerSettings(
        payload(
          [Setting.MAX_CONCURRENT_STREAMS, 10],
          [Setting.INITIAL_WINDOW_SIZE, 1 << 20],
          [Setting.MAX_FRAME_SIZE, 32_768],
          [Setting.HEADER_TABLE_SIZE, 0],
          [Setting.MAX_HEADER_LIST_SIZE, 8192],
          [Setting.ENABLE_PUSH, 0],
          [0x99, 7],
          [Setting.MAX_CONCURRENT_STREAMS, 20],
        ),
      ),
    ).toEqual({ maxConcurrentStreams: 20, initialWindowSize: 1 << 20, maxFrameSize: 32_768 });
    expect(parsePeerSettings(Buffer.alloc(0))).toEqual({});
  });

  it.each<[string, Buffer, number]>([
    ["a length that is not a multiple of 6", Buffer.alloc(7), ErrorCode.FRAME_SIZE_ERROR],
    [
      "an initial window over 2^31-1",
      payload([Setting.INITIAL_WINDOW_SIZE, 0x80000000]),
      ErrorCode.FLOW_CONTROL_ERROR,
    ],
    [
      "a max frame size under 16 KiB",
      payload([Setting.MAX_FRAME_SIZE, 16_383]),
      ErrorCode.PROTOCOL_ERROR,
    ],
    [
      "a max frame size over 2^24-1",
      payload([Setting.MAX_FRAME_SIZE, 0x1000000]),
      ErrorCode.PROTOCOL_ERROR,
    ],
    ["ENABLE_PUSH of 2", payload([Setting.ENABLE_PUSH, 2]), ErrorCode.PROTOCOL_ERROR],
  ])("refuses %s", (_, bytes, code) => {
    const result = parsePeerSettings(bytes);
    expect(isSettingsError(result)).toBe(true);
    expect(isSettingsError(result) && result.code).toBe(code);
  });
});
