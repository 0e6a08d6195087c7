import { describe, expect, it } from "vitest";
import { ErrorCode, Flag, FrameType, frame, settingsFrame } from "./frame.js";
import { FrameReader, type FrameSink } from "./frame-reader.js";

type Seen =
  | ["frame", number, number, number, string, number]
  | ["block", number, number, string]
  | ["error", number, string];

function reader() {
  const seen: Seen[] = [];
  const sink: FrameSink = {
    onFrame: (type, flags, id, payload, length) =>
      seen.push(["frame", type, flags, id, payload.toString("latin1"), length]),
    onHeaderBlock: (id, flags, block) => seen.push(["block", id, flags, block.toString("latin1")]),
    onFramingError: (code, what) => seen.push(["error", code, what]),
  };
  return { r: new FrameReader(sink), seen };
}

const padded = (pad: number, body: string, prefix = Buffer.alloc(0)) =>
  Buffer.concat([Buffer.from([pad]), prefix, Buffer.from(body, "latin1"), Buffer.alloc(pad)]);

// The server preface, then a mix of frames.
const stream = Buffer.concat([
  settingsFrame([[3, 100]]),
  frame(FrameType.DATA, Flag.PADDED | Flag.END_STREAM, 1, padded(3, "body")),
  frame(
    FrameType.HEADERS,
    Flag.END_HEADERS | Flag.PRIORITY | Flag.PADDED,
    3,
    padded(2, "hpack", Buffer.alloc(5)),
  ),
  frame(FrameType.HEADERS, 0, 5, Buffer.from("first-")),
  frame(FrameType.CONTINUATION, 0, 5, Buffer.from("second-")),
  frame(FrameType.CONTINUATION, Flag.END_HEADERS | 0x1, 5, Buffer.from("third")),
  frame(FrameType.PING, 0, 0, Buffer.from("12345678")),
]);
const expected: Seen[] = [
  ["frame", FrameType.SETTINGS, 0, 0, Buffer.from([0, 3, 0, 0, 0, 100]).toString("latin1"), 6],
  ["frame", FrameType.DATA, Flag.PADDED | Flag.END_STREAM, 1, "body", 8],
  ["block", 3, Flag.END_HEADERS | Flag.PRIORITY | Flag.PADDED, "hpack"],
  ["block", 5, 0, "first-second-third"],
  ["frame", FrameType.PING, 0, 0, "12345678", 8],
];

describe("FrameReader", () => {
  it("reads frames, removes padding and priority, and joins CONTINUATION frames", () => {
    const { r, seen } = reader();
    r.push(stream);
    expect(seen).toEqual(expected);
  });

  it("reads the same whatever the reads cut: every split point, and byte by byte", () => {
    for (let cut = 1; cut < stream.length; cut++) {
      const { r, seen } = reader();
      r.push(stream.subarray(0, cut));
      r.push(stream.subarray(cut));
      expect(seen).toEqual(expected);
    }
    const { r, seen } = reader();
    for (const byte of stream) r.push(Buffer.from([byte]));
    expect(seen).toEqual(expected);
  });

  it.each<[string, Buffer, number]>([
    [
      "a preface that is not SETTINGS",
      frame(FrameType.PING, 0, 0, Buffer.alloc(8)),
      ErrorCode.PROTOCOL_ERROR,
    ],
    [
      "a frame over 16 KiB",
      Buffer.concat([settingsFrame([]), frame(FrameType.DATA, 0, 1, Buffer.alloc(16_385))]),
      ErrorCode.FRAME_SIZE_ERROR,
    ],
    [
      "CONTINUATION without HEADERS",
      Buffer.concat([settingsFrame([]), frame(FrameType.CONTINUATION, 4, 1, Buffer.from("x"))]),
      ErrorCode.PROTOCOL_ERROR,
    ],
    [
      "another stream's CONTINUATION",
      Buffer.concat([
        settingsFrame([]),
        frame(FrameType.HEADERS, 0, 1, Buffer.from("x")),
        frame(FrameType.CONTINUATION, 4, 3, Buffer.from("y")),
      ]),
      ErrorCode.PROTOCOL_ERROR,
    ],
    [
      "padding longer than the frame",
      Buffer.concat([
        settingsFrame([]),
        frame(FrameType.DATA, Flag.PADDED, 1, Buffer.from([9, 1, 2])),
      ]),
      ErrorCode.PROTOCOL_ERROR,
    ],
    [
      "a padded frame without its pad length",
      Buffer.concat([settingsFrame([]), frame(FrameType.DATA, Flag.PADDED, 1)]),
      ErrorCode.PROTOCOL_ERROR,
    ],
    [
      "HEADERS shorter than their priority",
      Buffer.concat([
        settingsFrame([]),
        frame(FrameType.HEADERS, Flag.PRIORITY | Flag.END_HEADERS, 1, Buffer.alloc(3)),
      ]),
      ErrorCode.FRAME_SIZE_ERROR,
    ],
  ])("refuses %s, once, and reads nothing after it", (_, bytes, code) => {
    const { r, seen } = reader();
    r.push(Buffer.concat([bytes, frame(FrameType.PING, 0, 0, Buffer.alloc(8))]));
    r.push(frame(FrameType.PING, 0, 0, Buffer.alloc(8)));
    const errors = seen.filter((s) => s[0] === "error");
    expect(errors).toHaveLength(1);
    expect(errors[0]![1]).toBe(code);
    expect(seen[seen.length - 1]![0]).toBe("error");
  });

  it("refuses a header block over 256 KiB", () => {
    const { r, seen } = reader();
    const parts = [settingsFrame([]), frame(FrameType.HEADERS, 0, 1, Buffer.alloc(16_000))];
    for (let i = 0; i < 17; i++)
      parts.push(frame(FrameType.CONTINUATION, 0, 1, Buffer.alloc(16_000)));
    r.push(Buffer.concat(parts));
    expect(seen.at(-1)).toEqual([
      "error",
      ErrorCode.ENHANCE_YOUR_CALM,
      "a header block over 256 KiB",
    ]);
  });
});
