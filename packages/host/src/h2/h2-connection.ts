import type * as net from "node:net";
import {
  DEFAULT_MAX_FRAME_SIZE,
  DEFAULT_WINDOW,
  ErrorCode,
  Flag,
  FRAME_HEADER_LENGTH,
  FrameType,
  frame,
  MAX_WINDOW,
  writeFrameHeader,
} from "./frame.js";
import { FrameWriter } from "./frame-writer.js";
import { isSettingsError, type PeerSettings, parsePeerSettings } from "./peer-settings.js";

/** What the connection needs of a stream whose body it sends under flow control. */
export interface SendingStream {
  /** HTTP/2 stream id. */
  id: number;
  /** Body not sent yet. */
  pending: Buffer[];
  pendingBytes: number;
  /** Window the peer gave this stream. */
  sendWindow: number;
  /** `end()` was called. */
  endRequested: boolean;
  /** END_STREAM sent. */
  localEnded: boolean;
  /** Forgotten by the connection. */
  closed: boolean;
  /** `write()` returned false: tell `onDrain` once everything is out. */
  needDrain: boolean;
  readonly handlers: { onDrain(): void } | undefined;
}

// PING and SETTINGS answers queued while the socket is backed up, beyond
// which a peer that sends them without reading the answers is cut off.
const MAX_QUEUED_ACKS = 10_000;

/**
 * What the host's HTTP/2 client and server connections share (RFC 9113):
 * output through a {@link FrameWriter} (one socket write per turn of the
 * event loop), header blocks split into CONTINUATION frames, DATA under the
 * peer's windows (connection and stream) and frame size, SETTINGS, PING and
 * WINDOW_UPDATE from the peer, the drain of streams waiting for the socket,
 * and the flood guard on PING and SETTINGS answers.
 */
export abstract class H2Connection<S extends SendingStream> {
  /** The connection's socket (a `tls.TLSSocket` for TLS connections). */
  readonly socket: net.Socket;
  protected readonly writer: FrameWriter;
  // Peer settings.
  protected peerInitialWindow = DEFAULT_WINDOW;
  protected peerMaxFrameSize = DEFAULT_MAX_FRAME_SIZE;
  /** The connection window the peer gave us. */
  protected sendWindow = DEFAULT_WINDOW;
  /** Streams with body waiting for window. */
  protected readonly blocked = new Set<S>();
  /** Streams waiting for the socket to drain. */
  private readonly socketWaiters = new Set<S>();
  private queuedAcks = 0;

  constructor(socket: net.Socket) {
    this.socket = socket;
    this.writer = new FrameWriter(socket, () => this.socketDrained());
  }

  /** @private Whether the socket wants the writer to wait for `drain`. */
  get socketBlocked(): boolean {
    return this.writer.blocked;
  }

  /** @private Remembers a stream to tell when the socket drains. */
  waitForSocket(stream: S): void {
    this.socketWaiters.add(stream);
  }

  /** Sends what the windows allow of the stream's body, then its end. */
  abstract pump(stream: S): void;
  /** The streams open now (their windows move with INITIAL_WINDOW_SIZE). */
  protected abstract openStreams(): Iterable<S>;
  /** The stream a WINDOW_UPDATE is for; undefined when it is over (or after a connection error). */
  protected abstract windowUpdateStream(streamId: number): S | undefined;
  /** A stream-level error: RST_STREAM with `code`, and the stream is forgotten. */
  protected abstract streamError(stream: S, code: number): void;
  /** A connection-level error: GOAWAY with `code`, and the connection ends. */
  protected abstract protocolError(code: number, what: string): void;

  // ---- Output --------------------------------------------------------------

  protected send(chunk: Buffer): void {
    this.writer.send(chunk);
  }

  protected sendData(streamId: number, chunk: Buffer, end: boolean): void {
    const head = Buffer.allocUnsafe(FRAME_HEADER_LENGTH);
    writeFrameHeader(head, 0, chunk.length, FrameType.DATA, end ? Flag.END_STREAM : 0, streamId);
    this.send(head);
    if (chunk.length > 0) this.send(chunk);
  }

  /** HEADERS, then CONTINUATION frames when the block is larger than a frame; nothing in between. */
  protected sendHeaderBlock(streamId: number, block: Buffer, endStream: boolean): void {
    const end = endStream ? Flag.END_STREAM : 0;
    if (block.length <= this.peerMaxFrameSize) {
      const head = Buffer.allocUnsafe(FRAME_HEADER_LENGTH);
      writeFrameHeader(head, 0, block.length, FrameType.HEADERS, Flag.END_HEADERS | end, streamId);
      this.send(head);
      this.send(block);
      return;
    }
    for (let offset = 0; offset < block.length; offset += this.peerMaxFrameSize) {
      const stop = Math.min(block.length, offset + this.peerMaxFrameSize);
      const first = offset === 0;
      const flags = (stop === block.length ? Flag.END_HEADERS : 0) | (first ? end : 0);
      this.send(
        frame(
          first ? FrameType.HEADERS : FrameType.CONTINUATION,
          flags,
          streamId,
          block.subarray(offset, stop),
        ),
      );
    }
  }

  /**
   * Sends what the windows and the frame size allow of the stream's pending
   * body; END_STREAM goes with the last of it when `endWithLast`. Returns
   * false when body is left (the stream waits for window).
   */
  protected sendPending(stream: S, endWithLast: boolean): boolean {
    const pending = stream.pending;
    while (pending.length > 0) {
      const available = Math.min(stream.sendWindow, this.sendWindow, this.peerMaxFrameSize);
      if (available <= 0) {
        this.blocked.add(stream);
        return false;
      }
      const head = pending[0]!;
      const chunk = head.length <= available ? head : head.subarray(0, available);
      if (chunk === head) pending.shift();
      else pending[0] = head.subarray(available);
      stream.pendingBytes -= chunk.length;
      stream.sendWindow -= chunk.length;
      this.sendWindow -= chunk.length;
      const last = pending.length === 0 && endWithLast;
      this.sendData(stream.id, chunk, last);
      if (last) stream.localEnded = true;
    }
    this.blocked.delete(stream);
    return true;
  }

  /** Sends a PING or SETTINGS acknowledgement, unless the peer floods them. */
  protected answer(ack: Buffer): void {
    if (this.writer.blocked && ++this.queuedAcks > MAX_QUEUED_ACKS) {
      this.protocolError(
        ErrorCode.ENHANCE_YOUR_CALM,
        "PING or SETTINGS frames sent faster than their answers are read",
      );
      return;
    }
    this.send(ack);
  }

  /** Tells a stream whose body is all out that it may write more (once the socket can take it). */
  protected drained(stream: S): void {
    if (stream.pendingBytes > 0 || stream.closed) return;
    if (this.writer.blocked) {
      this.socketWaiters.add(stream);
      return;
    }
    stream.needDrain = false;
    stream.handlers?.onDrain();
  }

  /** Forgets what a closed stream waited for. */
  protected unblock(stream: S): void {
    this.blocked.delete(stream);
    this.socketWaiters.delete(stream);
  }

  protected pumpBlocked(): void {
    if (this.blocked.size === 0 || this.sendWindow <= 0) return;
    for (const stream of [...this.blocked]) {
      this.blocked.delete(stream);
      this.pump(stream);
      if (this.sendWindow <= 0) return;
    }
  }

  private socketDrained(): void {
    this.queuedAcks = 0;
    if (this.socketWaiters.size === 0) return;
    const waiters = [...this.socketWaiters];
    this.socketWaiters.clear();
    for (const stream of waiters) {
      if (!stream.closed && stream.pendingBytes === 0) this.drained(stream);
    }
  }

  // ---- Input ---------------------------------------------------------------

  /** @private FrameSink: the peer broke the framing rules. */
  onFramingError(code: number, what: string): void {
    this.protocolError(code, what);
  }

  /** PRIORITY (checked, then ignored) and frame types this endpoint does not use (ignored, RFC 9113 §4.1). */
  protected onOtherFrame(type: number, streamId: number, payload: Buffer): void {
    if (type === FrameType.PRIORITY && (streamId === 0 || payload.length !== 5)) {
      this.protocolError(ErrorCode.PROTOCOL_ERROR, "a malformed PRIORITY");
    }
  }

  protected onPing(flags: number, streamId: number, payload: Buffer): void {
    if (streamId !== 0 || payload.length !== 8) {
      this.protocolError(ErrorCode.PROTOCOL_ERROR, "a malformed PING");
    } else if (!(flags & Flag.ACK)) {
      this.answer(frame(FrameType.PING, Flag.ACK, 0, payload));
    }
  }

  /**
   * Applies the peer's SETTINGS (frame size, initial window: open streams'
   * windows move by the change, RFC 9113 §6.9.2) and acknowledges them.
   * Returns them for the caller's own use, or undefined for an ACK or after
   * a connection error.
   */
  protected applySettings(
    flags: number,
    streamId: number,
    payload: Buffer,
  ): PeerSettings | undefined {
    if (streamId !== 0) {
      this.protocolError(ErrorCode.PROTOCOL_ERROR, "SETTINGS on a stream");
      return undefined;
    }
    if (flags & Flag.ACK) {
      if (payload.length !== 0) {
        this.protocolError(ErrorCode.FRAME_SIZE_ERROR, "a SETTINGS ACK with a payload");
      }
      return undefined;
    }
    const settings = parsePeerSettings(payload);
    if (isSettingsError(settings)) {
      this.protocolError(settings.code, settings.what);
      return undefined;
    }
    if (settings.maxFrameSize !== undefined) this.peerMaxFrameSize = settings.maxFrameSize;
    if (settings.initialWindowSize !== undefined) {
      const delta = settings.initialWindowSize - this.peerInitialWindow;
      this.peerInitialWindow = settings.initialWindowSize;
      for (const stream of this.openStreams()) {
        stream.sendWindow += delta;
        if (stream.sendWindow > MAX_WINDOW) {
          this.protocolError(ErrorCode.FLOW_CONTROL_ERROR, "a stream window over 2^31-1");
          return undefined;
        }
      }
    }
    this.answer(frame(FrameType.SETTINGS, Flag.ACK, 0));
    return settings;
  }

  protected onWindowUpdate(streamId: number, payload: Buffer): void {
    if (payload.length !== 4) {
      this.protocolError(ErrorCode.FRAME_SIZE_ERROR, "a WINDOW_UPDATE of a bad length");
      return;
    }
    const increment = payload.readUInt32BE(0) & MAX_WINDOW;
    if (streamId === 0) {
      if (increment === 0) {
        this.protocolError(ErrorCode.PROTOCOL_ERROR, "a WINDOW_UPDATE of 0");
        return;
      }
      this.sendWindow += increment;
      if (this.sendWindow > MAX_WINDOW) {
        this.protocolError(ErrorCode.FLOW_CONTROL_ERROR, "a connection window over 2^31-1");
        return;
      }
      this.pumpBlocked();
      return;
    }
    const stream = this.windowUpdateStream(streamId);
    if (stream === undefined) return;
    if (increment === 0) {
      this.streamError(stream, ErrorCode.PROTOCOL_ERROR);
      return;
    }
    stream.sendWindow += increment;
    if (stream.sendWindow > MAX_WINDOW) {
      this.streamError(stream, ErrorCode.FLOW_CONTROL_ERROR);
      return;
    }
    if (stream.pendingBytes > 0 || (stream.endRequested && !stream.localEnded)) this.pump(stream);
  }
}
