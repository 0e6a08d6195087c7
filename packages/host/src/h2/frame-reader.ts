import {
  DEFAULT_MAX_FRAME_SIZE,
  ErrorCode,
  Flag,
  FRAME_HEADER_LENGTH,
  FrameType,
  MAX_WINDOW,
} from "./frame.js";

/** Largest header block (HEADERS + CONTINUATION) collected before decoding. */
const MAX_HEADER_BLOCK = 256 << 10;

/**
 * Where a {@link FrameReader} delivers what it read.
 */
export interface FrameSink {
  /**
   * A frame other than HEADERS and CONTINUATION. For DATA, `payload` is
   * without padding and `length` is the frame's whole length (what flow
   * control counts).
   */
  onFrame(type: number, flags: number, streamId: number, payload: Buffer, length: number): void;
  /** A whole header block (HEADERS plus CONTINUATION frames), padding and priority removed. */
  onHeaderBlock(streamId: number, flags: number, block: Buffer): void;
  /** The peer broke the framing rules: a connection error with this code. */
  onFramingError(code: number, what: string): void;
}

/**
 * Cuts the bytes the peer sends into HTTP/2 frames (RFC 9113 §4): frames
 * split across reads are joined, frames over the default
 * SETTINGS_MAX_FRAME_SIZE are refused, padding is removed, the peer's
 * preface must start with a SETTINGS frame (a server reads the client's
 * 24-octet magic itself first), and a header block spread over
 * CONTINUATION frames is delivered once, whole, with nothing allowed in
 * between.
 */
export class FrameReader {
  private readonly sink: FrameSink;
  private partial: Buffer | undefined;
  private sawSettings = false;
  private stopped = false;
  // A header block spread over CONTINUATION frames.
  private headerStream = 0;
  private headerFlags = 0;
  private headerChunks: Buffer[] = [];
  private headerBytes = 0;

  constructor(sink: FrameSink) {
    this.sink = sink;
  }

  /** Reads the frames in `chunk` (and in what an earlier chunk left). */
  push(chunk: Buffer): void {
    let buf = chunk;
    if (this.partial !== undefined) {
      buf = Buffer.concat([this.partial, chunk]);
      this.partial = undefined;
    }
    let offset = 0;
    const total = buf.length;
    while (total - offset >= FRAME_HEADER_LENGTH && !this.stopped) {
      const length = (buf[offset]! << 16) | (buf[offset + 1]! << 8) | buf[offset + 2]!;
      if (length > DEFAULT_MAX_FRAME_SIZE) {
        this.fail(ErrorCode.FRAME_SIZE_ERROR, `a frame of ${length} octets`);
        return;
      }
      if (total - offset - FRAME_HEADER_LENGTH < length) break;
      const type = buf[offset + 3]!;
      const flags = buf[offset + 4]!;
      const streamId = buf.readUInt32BE(offset + 5) & MAX_WINDOW;
      const start = offset + FRAME_HEADER_LENGTH;
      offset = start + length;
      this.frame(type, flags, streamId, buf.subarray(start, offset));
    }
    if (offset < total && !this.stopped) this.partial = buf.subarray(offset);
  }

  /** Reads nothing more. */
  stop(): void {
    this.stopped = true;
    this.partial = undefined;
    this.headerChunks = [];
  }

  private frame(type: number, flags: number, streamId: number, payload: Buffer): void {
    if (!this.sawSettings) {
      if (type !== FrameType.SETTINGS || flags & Flag.ACK) {
        this.fail(ErrorCode.PROTOCOL_ERROR, "a connection preface without SETTINGS");
        return;
      }
      this.sawSettings = true;
    }
    if (this.headerStream !== 0) {
      this.continuation(type, flags, streamId, payload);
      return;
    }
    if (type === FrameType.HEADERS) {
      const block = this.unpad(flags, payload, flags & Flag.PRIORITY ? 5 : 0);
      if (block === undefined) return;
      if (flags & Flag.END_HEADERS) {
        this.sink.onHeaderBlock(streamId, flags, block);
        return;
      }
      if (streamId === 0) {
        this.fail(ErrorCode.PROTOCOL_ERROR, "HEADERS on stream 0");
        return;
      }
      // Copied: the read buffer is not ours to keep.
      this.headerStream = streamId;
      this.headerFlags = flags;
      this.headerChunks = [Buffer.from(block)];
      this.headerBytes = block.length;
      return;
    }
    if (type === FrameType.CONTINUATION) {
      this.fail(ErrorCode.PROTOCOL_ERROR, "CONTINUATION without HEADERS");
      return;
    }
    if (type === FrameType.DATA) {
      const data = this.unpad(flags, payload, 0);
      if (data !== undefined) this.sink.onFrame(type, flags, streamId, data, payload.length);
      return;
    }
    this.sink.onFrame(type, flags, streamId, payload, payload.length);
  }

  private continuation(type: number, flags: number, streamId: number, payload: Buffer): void {
    if (type !== FrameType.CONTINUATION || streamId !== this.headerStream) {
      this.fail(ErrorCode.PROTOCOL_ERROR, "a frame inside a header block");
      return;
    }
    this.headerBytes += payload.length;
    if (this.headerBytes > MAX_HEADER_BLOCK) {
      this.fail(ErrorCode.ENHANCE_YOUR_CALM, "a header block over 256 KiB");
      return;
    }
    this.headerChunks.push(Buffer.from(payload));
    if (!(flags & Flag.END_HEADERS)) return;
    const block = Buffer.concat(this.headerChunks, this.headerBytes);
    const headerFlags = this.headerFlags;
    this.headerStream = 0;
    this.headerChunks = [];
    this.headerBytes = 0;
    this.sink.onHeaderBlock(streamId, headerFlags, block);
  }

  /** The payload without padding (and `skip` octets of priority), or undefined when malformed. */
  private unpad(flags: number, payload: Buffer, skip: number): Buffer | undefined {
    if (!(flags & Flag.PADDED)) {
      if (skip > payload.length) {
        this.fail(ErrorCode.FRAME_SIZE_ERROR, "a HEADERS frame shorter than its priority");
        return undefined;
      }
      return skip === 0 ? payload : payload.subarray(skip);
    }
    if (payload.length < 1 || payload[0]! + 1 + skip > payload.length) {
      this.fail(ErrorCode.PROTOCOL_ERROR, "padding longer than the frame");
      return undefined;
    }
    return payload.subarray(1 + skip, payload.length - payload[0]!);
  }

  private fail(code: number, what: string): void {
    this.stop();
    this.sink.onFramingError(code, what);
  }
}
