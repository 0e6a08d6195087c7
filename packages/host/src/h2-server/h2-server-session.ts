import type * as net from "node:net";
import {
  CLIENT_PREFACE,
  DEFAULT_WINDOW,
  ErrorCode,
  Flag,
  FrameType,
  goawayFrame,
  rstStreamFrame,
  Setting,
  settingsFrame,
  windowUpdateFrame,
} from "../h2/frame.js";
import { FrameReader, type FrameSink } from "../h2/frame-reader.js";
import { H2Connection } from "../h2/h2-connection.js";
import { H2Error } from "../h2/h2-error.js";
import { HpackDecoder } from "../h2/hpack-decoder.js";
import { encodeHeaderBlock } from "../h2/hpack-encoder.js";
import { HeaderListTooLargeError, HpackError } from "../h2/hpack-error.js";
import type { H2RequestHandlers } from "./h2-request-handlers.js";
import { H2ServerStream, type H2ServerStreamOwner } from "./h2-server-stream.js";
import { checkRequestFields, checkTrailerFields } from "./request-fields.js";
import { ResetBudget } from "./reset-budget.js";

/**
 * Options of {@link H2ServerSession}.
 */
export interface H2ServerSessionOptions {
  /**
   * A request arrived (its headers are in `stream.fields`): answer with the
   * handlers of its body and end. Called synchronously from the socket's
   * reads; the application may respond at once.
   */
  readonly onStream: (stream: H2ServerStream) => H2RequestHandlers;
  /** Called once when the connection is closed, with the error that ended it, if any. */
  readonly onClose?: (error: H2Error | undefined) => void;
  /** SETTINGS_MAX_CONCURRENT_STREAMS: requests open at once; more are refused. Default 1000. */
  readonly maxConcurrentStreams?: number;
  /** Flow-control window per request stream, in octets. Default 1 MiB. */
  readonly streamWindow?: number;
  /**
   * Flow-control window of the connection for request bodies, in octets: the
   * most request body the connection buffers for streams that do not read.
   * Default 16 MiB.
   */
  readonly connectionWindow?: number;
  /** Largest request header list (RFC 9113 §6.5.2 counting); larger ones get 431. Default 64 KiB. */
  readonly maxHeaderListBytes?: number;
  /**
   * Streams the client may reset at once before the connection is closed
   * with ENHANCE_YOUR_CALM (rapid reset, CVE-2023-44487). Default 1000.
   */
  readonly resetBurst?: number;
  /** Resets per second the budget refills with. Default 100. */
  readonly resetsPerSecond?: number;
}

const DEFAULT_MAX_CONCURRENT_STREAMS = 1000;
const DEFAULT_STREAM_WINDOW = 1 << 20;
const DEFAULT_CONNECTION_WINDOW = 16 << 20;
const DEFAULT_MAX_HEADER_LIST = 64 << 10;
const DEFAULT_RESET_BURST = 1000;
const DEFAULT_RESETS_PER_SECOND = 100;
// How long an ended connection waits for the client to close its side.
const CLOSE_WAIT_MS = 5000;
const EMPTY = Buffer.alloc(0);
const HEADER_LIST_TOO_LARGE = encodeHeaderBlock([":status", "431"]);

/**
 * The server side of one HTTP/2 connection (RFC 9113), written for the
 * host's hot path: frames are read and written directly on the socket (h2c
 * after the listener saw the preface, or TLS after ALPN chose `h2`), header
 * blocks are coded with the package's own HPACK, and each request is a
 * small {@link H2ServerStream} with callbacks instead of a Node.js duplex.
 * Everything written in one turn of the event loop (a unary response's
 * HEADERS, message and trailers) goes out in one socket write.
 *
 * It checks every request against RFC 9113 §8 (malformed ones are reset
 * with PROTOCOL_ERROR), keeps to its stream limit (REFUSED_STREAM past it),
 * does flow control both ways (request windows are granted back as the
 * application reads), answers PING and SETTINGS, and closes the connection
 * with GOAWAY and the matching code when the client breaks the protocol,
 * floods PING or SETTINGS, or resets streams faster than its budget.
 * `close()` sends GOAWAY and ends the connection once its streams are done.
 */
export class H2ServerSession
  extends H2Connection<H2ServerStream>
  implements H2ServerStreamOwner, FrameSink
{
  private readonly onStream: (stream: H2ServerStream) => H2RequestHandlers;
  private readonly onClose: ((error: H2Error | undefined) => void) | undefined;
  private readonly decoder: HpackDecoder;
  private readonly reader = new FrameReader(this);
  private readonly streams = new Map<number, H2ServerStream>();
  private readonly maxConcurrent: number;
  private readonly streamWindow: number;
  private readonly connectionWindow: number;
  private readonly resets: ResetBudget;
  /** Highest stream id the client opened; lower ids not in `streams` are closed. */
  private lastStreamId = 0;
  private active = 0;
  private prefaceSeen = 0;
  private goingAway = false;
  private peerGoingAway = false;
  private destroyed = false;
  private closeError: H2Error | undefined = undefined;
  // The connection window for request bodies: what the client may still send.
  private recvAvailable: number;
  private recvConsumed = 0;

  constructor(socket: net.Socket, options: H2ServerSessionOptions) {
    super(socket);
    this.onStream = options.onStream;
    this.onClose = options.onClose;
    this.maxConcurrent = options.maxConcurrentStreams ?? DEFAULT_MAX_CONCURRENT_STREAMS;
    this.streamWindow = options.streamWindow ?? DEFAULT_STREAM_WINDOW;
    this.connectionWindow = Math.max(
      options.connectionWindow ?? DEFAULT_CONNECTION_WINDOW,
      DEFAULT_WINDOW,
    );
    this.recvAvailable = this.connectionWindow;
    this.resets = new ResetBudget(
      options.resetBurst ?? DEFAULT_RESET_BURST,
      options.resetsPerSecond ?? DEFAULT_RESETS_PER_SECOND,
    );
    const maxHeaderList = options.maxHeaderListBytes ?? DEFAULT_MAX_HEADER_LIST;
    // Uppercase names are left to checkRequestFields: a malformed request is a stream error.
    this.decoder = new HpackDecoder({
      maxHeaderListBytes: maxHeaderList,
      allowUppercaseNames: true,
    });
    socket.setNoDelay?.(true);
    socket.on("data", (chunk: Buffer) => this.read(chunk));
    socket.on("error", () => this.fail(ErrorCode.CANCEL, undefined));
    socket.on("close", () => {
      this.fail(ErrorCode.CANCEL, undefined);
      this.onClose?.(this.closeError);
    });
    // A client that never closes its side of an ended connection is cut off.
    socket.once("finish", () => {
      setTimeout(() => socket.destroy(), CLOSE_WAIT_MS).unref();
    });
    this.send(
      settingsFrame([
        [Setting.MAX_CONCURRENT_STREAMS, this.maxConcurrent],
        [Setting.INITIAL_WINDOW_SIZE, this.streamWindow],
        [Setting.MAX_HEADER_LIST_SIZE, maxHeaderList],
      ]),
    );
    if (this.connectionWindow > DEFAULT_WINDOW) {
      this.send(windowUpdateFrame(0, this.connectionWindow - DEFAULT_WINDOW));
    }
  }

  /** Requests in progress. */
  get activeStreams(): number {
    return this.active;
  }

  /** True once the session takes no more requests (closing, closed or failed). */
  get closed(): boolean {
    return this.goingAway || this.destroyed;
  }

  /**
   * Takes no more requests: GOAWAY with the last stream id seen, so the
   * client knows later requests were not processed and may retry them
   * elsewhere. The streams in progress finish; then the connection ends.
   */
  close(): void {
    if (this.destroyed) return;
    if (!this.goingAway) {
      this.goingAway = true;
      this.send(goawayFrame(this.lastStreamId, ErrorCode.NO_ERROR));
    }
    if (this.active === 0) this.endSocket();
  }

  /** Ends the connection now; the streams in progress get `onReset(CANCEL)`. */
  destroy(): void {
    this.fail(ErrorCode.CANCEL, undefined);
  }

  // ---- H2ServerStreamOwner -------------------------------------------------

  /** @private */
  respond(stream: H2ServerStream, fields: readonly string[], endStream: boolean): void {
    stream.responded = true;
    this.sendHeaderBlock(stream.id, encodeHeaderBlock(fields), endStream);
    if (!endStream) return;
    stream.endRequested = true;
    stream.localEnded = true;
    this.localEnd(stream);
  }

  /** @private */
  pump(stream: H2ServerStream): void {
    if (stream.closed || stream.localEnded) return;
    if (!this.sendPending(stream, stream.endRequested && stream.trailers === undefined)) return;
    if (stream.endRequested && !stream.localEnded) {
      if (stream.trailers !== undefined) {
        this.sendHeaderBlock(stream.id, encodeHeaderBlock(stream.trailers), true);
      } else {
        this.sendData(stream.id, EMPTY, true);
      }
      stream.localEnded = true;
    }
    if (stream.localEnded) {
      this.localEnd(stream);
      return;
    }
    if (stream.needDrain) this.drained(stream);
  }

  /** @private */
  reset(stream: H2ServerStream, code: number): void {
    if (stream.closed) return;
    this.send(rstStreamFrame(stream.id, code));
    this.forget(stream);
  }

  /** @private */
  acknowledge(stream: H2ServerStream): void {
    if (stream.heldForConnection > 0) {
      this.consumed(stream.heldForConnection);
      stream.heldForConnection = 0;
    }
    const consumed = stream.recvConsumed;
    if (consumed === 0 || stream.remoteEnded) return;
    stream.recvConsumed = 0;
    stream.recvWindow += consumed;
    this.send(windowUpdateFrame(stream.id, consumed));
  }

  // ---- Input ---------------------------------------------------------------

  private read(chunk: Buffer): void {
    if (this.prefaceSeen < CLIENT_PREFACE.length) {
      const n = Math.min(CLIENT_PREFACE.length - this.prefaceSeen, chunk.length);
      for (let i = 0; i < n; i++) {
        if (chunk[i] !== CLIENT_PREFACE[this.prefaceSeen + i]) {
          this.protocolError(ErrorCode.PROTOCOL_ERROR, "not an HTTP/2 connection preface");
          return;
        }
      }
      this.prefaceSeen += n;
      if (n === chunk.length) return;
      chunk = chunk.subarray(n);
    }
    this.reader.push(chunk);
  }

  /** @private FrameSink: a frame other than HEADERS and CONTINUATION. */
  onFrame(type: number, flags: number, streamId: number, payload: Buffer, length: number): void {
    switch (type) {
      case FrameType.DATA:
        this.onData(flags, streamId, payload, length);
        return;
      case FrameType.RST_STREAM:
        this.onRstStream(streamId, payload);
        return;
      case FrameType.SETTINGS:
        if (this.applySettings(flags, streamId, payload) !== undefined) this.pumpBlocked();
        return;
      case FrameType.PING:
        this.onPing(flags, streamId, payload);
        return;
      case FrameType.GOAWAY:
        if (streamId !== 0 || payload.length < 8) {
          this.protocolError(ErrorCode.PROTOCOL_ERROR, "a malformed GOAWAY");
          return;
        }
        // The client opens no more streams; the ones in progress finish.
        this.peerGoingAway = true;
        if (this.active === 0) this.endSocket();
        return;
      case FrameType.WINDOW_UPDATE:
        this.onWindowUpdate(streamId, payload);
        return;
      case FrameType.PUSH_PROMISE:
        this.protocolError(ErrorCode.PROTOCOL_ERROR, "PUSH_PROMISE from a client");
        return;
      default:
        this.onOtherFrame(type, streamId, payload);
        return;
    }
  }

  /** @private FrameSink: a whole header block. */
  onHeaderBlock(streamId: number, flags: number, block: Buffer): void {
    if (streamId % 2 === 0) {
      this.protocolError(ErrorCode.PROTOCOL_ERROR, "HEADERS on an even stream id");
      return;
    }
    let fields: string[];
    let tooLarge = false;
    try {
      fields = this.decoder.decode(block);
    } catch (error) {
      if (!(error instanceof HeaderListTooLargeError)) {
        const reason = error instanceof HpackError ? error.message : String(error);
        this.protocolError(ErrorCode.COMPRESSION_ERROR, `a bad header block (${reason})`);
        return;
      }
      fields = [];
      tooLarge = true;
    }
    // Decoded even when the stream is not wanted: the HPACK table must stay in step.
    const end = (flags & Flag.END_STREAM) !== 0;
    const open = this.streams.get(streamId);
    if (open !== undefined) {
      this.onTrailers(open, fields, end, tooLarge);
      return;
    }
    if (streamId <= this.lastStreamId) {
      // A stream already over (reset by one side, or refused): nothing to do.
      return;
    }
    this.lastStreamId = streamId;
    if (this.goingAway || this.peerGoingAway) {
      this.send(rstStreamFrame(streamId, ErrorCode.REFUSED_STREAM));
      return;
    }
    if (tooLarge) {
      // Answered, not reset: the client learns why (RFC 6585 §5).
      this.sendHeaderBlock(streamId, HEADER_LIST_TOO_LARGE, true);
      if (!end) this.send(rstStreamFrame(streamId, ErrorCode.NO_ERROR));
      return;
    }
    if (this.active >= this.maxConcurrent) {
      this.send(rstStreamFrame(streamId, ErrorCode.REFUSED_STREAM));
      return;
    }
    if (checkRequestFields(fields) !== undefined) {
      this.send(rstStreamFrame(streamId, ErrorCode.PROTOCOL_ERROR));
      return;
    }
    const stream = new H2ServerStream(this, streamId, fields);
    stream.sendWindow = this.peerInitialWindow;
    stream.recvWindow = this.streamWindow;
    stream.remoteEnded = end;
    this.streams.set(streamId, stream);
    this.active++;
    let handlers: H2RequestHandlers;
    try {
      handlers = this.onStream(stream);
    } catch (error) {
      this.reset(stream, ErrorCode.INTERNAL_ERROR);
      throw error;
    }
    stream.handlers = handlers;
    // Answered completely from onStream: the completion is told now.
    if (stream.completed) handlers.onComplete?.();
    else if (end && !stream.closed) handlers.onEnd(undefined);
  }

  private onTrailers(
    stream: H2ServerStream,
    fields: string[],
    end: boolean,
    tooLarge: boolean,
  ): void {
    if (stream.remoteEnded) {
      this.streamError(stream, ErrorCode.STREAM_CLOSED);
      return;
    }
    if (!end || tooLarge || checkTrailerFields(fields) !== undefined) {
      this.streamError(stream, ErrorCode.PROTOCOL_ERROR);
      return;
    }
    stream.remoteEnded = true;
    stream.handlers?.onEnd(fields);
  }

  private onData(flags: number, streamId: number, data: Buffer, length: number): void {
    if (streamId === 0 || streamId % 2 === 0 || streamId > this.lastStreamId) {
      this.protocolError(ErrorCode.PROTOCOL_ERROR, "DATA on a stream never opened");
      return;
    }
    // Every octet, padding included, counts against the connection window.
    if (length > this.recvAvailable) {
      this.protocolError(ErrorCode.FLOW_CONTROL_ERROR, "DATA beyond the connection window");
      return;
    }
    this.recvAvailable -= length;
    const stream = this.streams.get(streamId);
    if (stream === undefined) {
      // Over already: dropped, and its window given back at once.
      this.consumed(length);
      return;
    }
    if (stream.remoteEnded) {
      this.consumed(length);
      this.streamError(stream, ErrorCode.STREAM_CLOSED);
      return;
    }
    if (length > stream.recvWindow) {
      this.consumed(length);
      this.streamError(stream, ErrorCode.FLOW_CONTROL_ERROR);
      return;
    }
    stream.recvWindow -= length;
    stream.recvConsumed += length;
    if (stream.paused) stream.heldForConnection += length;
    else this.consumed(length);
    const end = (flags & Flag.END_STREAM) !== 0;
    if (end) stream.remoteEnded = true;
    else if (!stream.paused && stream.recvConsumed >= this.streamWindow >>> 1) {
      this.acknowledge(stream);
    }
    if (data.length > 0) stream.handlers?.onData(data);
    if (end && !stream.closed) stream.handlers?.onEnd(undefined);
  }

  /** Request octets the application is done with: the connection window grows back. */
  private consumed(length: number): void {
    this.recvConsumed += length;
    if (this.recvConsumed >= this.connectionWindow >>> 1) {
      this.recvAvailable += this.recvConsumed;
      this.send(windowUpdateFrame(0, this.recvConsumed));
      this.recvConsumed = 0;
    }
  }

  private onRstStream(streamId: number, payload: Buffer): void {
    if (streamId === 0 || payload.length !== 4) {
      this.protocolError(ErrorCode.PROTOCOL_ERROR, "a malformed RST_STREAM");
      return;
    }
    if (streamId % 2 === 0 || streamId > this.lastStreamId) {
      this.protocolError(ErrorCode.PROTOCOL_ERROR, "RST_STREAM on a stream never opened");
      return;
    }
    const stream = this.streams.get(streamId);
    if (stream === undefined) return;
    if (!this.resets.take()) {
      this.protocolError(ErrorCode.ENHANCE_YOUR_CALM, "streams reset faster than allowed");
      return;
    }
    this.forget(stream);
    stream.handlers?.onReset(payload.readUInt32BE(0));
  }

  /** @private */
  protected override windowUpdateStream(streamId: number): H2ServerStream | undefined {
    if (streamId % 2 === 0 || streamId > this.lastStreamId) {
      this.protocolError(ErrorCode.PROTOCOL_ERROR, "WINDOW_UPDATE on a stream never opened");
      return undefined;
    }
    return this.streams.get(streamId);
  }

  // ---- Stream and connection state ----------------------------------------

  /** @private */
  protected override openStreams(): Iterable<H2ServerStream> {
    return this.streams.values();
  }

  /** The response is complete: the stream is over. */
  private localEnd(stream: H2ServerStream): void {
    if (!stream.remoteEnded) {
      // Answered before the request ended: the rest of it is not wanted
      // (RFC 9113 §8.1).
      this.send(rstStreamFrame(stream.id, ErrorCode.NO_ERROR));
    }
    stream.completed = true;
    this.forget(stream);
    stream.handlers?.onComplete?.();
  }

  private forget(stream: H2ServerStream): void {
    if (stream.closed) return;
    stream.closed = true;
    stream.pending = [];
    stream.pendingBytes = 0;
    // Request octets held for a paused stream go back to the connection.
    if (stream.heldForConnection > 0) {
      this.consumed(stream.heldForConnection);
      stream.heldForConnection = 0;
    }
    this.unblock(stream);
    this.streams.delete(stream.id);
    this.active--;
    if ((this.goingAway || this.peerGoingAway) && this.active === 0) this.endSocket();
  }

  /** A stream-level error: RST_STREAM to the client, `onReset` to the application. */
  protected override streamError(stream: H2ServerStream, code: number): void {
    this.send(rstStreamFrame(stream.id, code));
    this.forget(stream);
    stream.handlers?.onReset(code);
  }

  /** A connection-level error: GOAWAY with `code`, then the connection ends. */
  protected override protocolError(code: number, what: string): void {
    if (this.destroyed) return;
    this.reader.stop();
    this.send(goawayFrame(this.lastStreamId, code));
    this.writer.flush();
    this.fail(code, new H2Error(`the client broke the HTTP/2 protocol: ${what}`, code), true);
  }

  /** Ends the connection after what is queued (its last responses, the GOAWAY); reads nothing more. */
  private endSocket(): void {
    if (this.destroyed) return;
    this.reader.stop();
    this.writer.flush();
    this.writer.close();
    this.destroyed = true;
    this.socket.end();
  }

  /**
   * Ends the connection; the streams in progress get `onReset(code)`.
   * `graceful`: the socket is ended after what is queued is written (a
   * GOAWAY), else destroyed.
   */
  private fail(code: number, error: H2Error | undefined, graceful = false): void {
    if (!this.destroyed) {
      this.destroyed = true;
      this.writer.close();
      if (graceful) this.socket.end();
      else this.socket.destroy();
    }
    this.closeError ??= error;
    const streams = [...this.streams.values()];
    this.streams.clear();
    this.active = 0;
    for (const stream of streams) {
      if (stream.closed) continue;
      stream.closed = true;
      stream.handlers?.onReset(code);
    }
  }
}
