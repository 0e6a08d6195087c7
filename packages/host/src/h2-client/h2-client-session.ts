import type * as net from "node:net";
import {
  CLIENT_PREFACE,
  DEFAULT_WINDOW,
  ErrorCode,
  Flag,
  FrameType,
  goawayFrame,
  MAX_WINDOW,
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
import { connectSocket, type H2TlsOptions } from "./connect-socket.js";
import { H2ClientStream, type H2StreamOwner } from "./h2-client-stream.js";
import type { H2ResponseHandlers } from "./h2-response-handlers.js";

/**
 * Options of {@link connectH2Session}.
 */
export interface H2SessionOptions {
  /** For `https:` origins: CA bundle, client certificate and key (mTLS). Default: Node's roots, no client certificate. */
  readonly tls?: H2TlsOptions;
  /** Flow-control window per response stream, in octets. Default 1 MiB. */
  readonly streamWindow?: number;
  /** Flow-control window of the connection for responses, in octets. Default 16 MiB. */
  readonly connectionWindow?: number;
  /** Largest response header list (RFC 9113 §6.5.2 counting). Default 64 KiB. */
  readonly maxHeaderListBytes?: number;
  /** Called once when the session takes no more requests (GOAWAY, error or close). */
  readonly onUnusable?: () => void;
  /**
   * A connected transport to speak HTTP/2 over instead of dialling `origin`
   * (which then only names the peer in errors), e.g. one end of an
   * in-process duplex pair. Default: a socket to `origin`.
   */
  readonly socket?: net.Socket;
}

const DEFAULT_STREAM_WINDOW = 1 << 20;
const DEFAULT_CONNECTION_WINDOW = 16 << 20;
const DEFAULT_MAX_HEADER_LIST = 64 << 10;
const EMPTY = Buffer.alloc(0);

/**
 * An HTTP/2 client connection to one provider, written for the router's
 * hot path: frames are read and written directly on the socket (h2c, or
 * TLS with ALPN `h2`), header blocks are coded with the package's own HPACK,
 * and each request is a small {@link H2ClientStream} with callbacks instead
 * of a Node.js duplex stream. Everything written in one turn of the event
 * loop goes out in one socket write.
 *
 * Flow control both ways, SETTINGS (stream limit, window, frame size), PING,
 * GOAWAY and RST_STREAM are handled; server push is refused (ENABLE_PUSH 0).
 * Any protocol violation by the provider ends the connection with GOAWAY and
 * the matching error code; its streams fail with {@link H2Error}.
 */
export class H2ClientSession
  extends H2Connection<H2ClientStream>
  implements H2StreamOwner, FrameSink
{
  /** `scheme://host:port` of the provider. */
  readonly origin: string;
  private readonly decoder: HpackDecoder;
  private readonly reader = new FrameReader(this);
  private readonly streamWindow: number;
  private readonly onUnusable: (() => void) | undefined;
  private readonly streams = new Map<number, H2ClientStream>();
  private nextStreamId = 1;
  private active = 0;
  private unusable = false;
  private destroyed = false;
  // Peer settings.
  // One stream until the provider's first SETTINGS arrive (right after it
  // accepts the connection): a burst of calls on a new connection would
  // otherwise be refused (REFUSED_STREAM) past a limit the client cannot know yet.
  private maxConcurrent = 1;
  private settingsSeen = false;
  // What the provider sent that was not granted back yet (connection window).
  private recvConsumed = 0;
  private readonly connectionWindow: number;
  // Streams waiting: for the HEADERS timer, for a slot, for window, for the socket.
  private unopened: H2ClientStream[] = [];
  private openScheduled = false;
  private readonly slotQueue: H2ClientStream[] = [];

  constructor(origin: URL, options: H2SessionOptions = {}) {
    super(
      options.socket ??
        connectSocket(origin, options.tls, () => {
          this?.fail(
            new H2Error(
              `${origin.origin} did not agree to HTTP/2 (ALPN h2)`,
              ErrorCode.PROTOCOL_ERROR,
            ),
          );
        }),
    );
    this.origin = origin.origin;
    this.streamWindow = options.streamWindow ?? DEFAULT_STREAM_WINDOW;
    this.connectionWindow = options.connectionWindow ?? DEFAULT_CONNECTION_WINDOW;
    this.onUnusable = options.onUnusable;
    const maxHeaderList = options.maxHeaderListBytes ?? DEFAULT_MAX_HEADER_LIST;
    this.decoder = new HpackDecoder({ maxHeaderListBytes: maxHeaderList });
    this.socket.on("data", (chunk: Buffer) => this.reader.push(chunk));
    this.socket.on("error", (error) => {
      this.fail(
        new H2Error(
          `connection to ${this.origin} failed: ${error.message}`,
          ErrorCode.CONNECT_ERROR,
        ),
      );
    });
    this.socket.on("close", () => {
      this.fail(new H2Error(`connection to ${this.origin} closed`, ErrorCode.CONNECT_ERROR));
    });
    this.send(CLIENT_PREFACE);
    this.send(
      settingsFrame([
        [Setting.ENABLE_PUSH, 0],
        [Setting.INITIAL_WINDOW_SIZE, this.streamWindow],
        [Setting.MAX_HEADER_LIST_SIZE, maxHeaderList],
      ]),
    );
    if (this.connectionWindow > DEFAULT_WINDOW) {
      this.send(windowUpdateFrame(0, this.connectionWindow - DEFAULT_WINDOW));
    }
  }

  /** True once the session takes no more requests (going away, failed or closed). */
  get closed(): boolean {
    return this.unusable;
  }

  /** Requests sent and not over yet, plus those waiting for a free stream. */
  get inFlight(): number {
    return this.active + this.slotQueue.length;
  }

  /**
   * Starts a request. `fields` are the request headers, names (lowercase)
   * and values alternating, pseudo-headers first. The HEADERS frame goes out
   * with the first body chunk written or ended, or on its own after the
   * socket reads of the next turn of the event loop. On a closed session the stream
   * fails (asynchronously, through `onError`).
   */
  request(fields: readonly string[], handlers: H2ResponseHandlers): H2ClientStream {
    const stream = new H2ClientStream(this, encodeHeaderBlock(fields), handlers);
    if (this.unusable) {
      stream.closed = true;
      queueMicrotask(() =>
        handlers.onError(
          new H2Error(`connection to ${this.origin} is closed`, ErrorCode.REFUSED_STREAM),
        ),
      );
      return stream;
    }
    this.unopened.push(stream);
    if (!this.openScheduled) {
      this.openScheduled = true;
      // An immediate queued by an immediate runs after the socket reads of
      // the next turn: a body that arrives there still joins the HEADERS.
      setImmediate(() => setImmediate(() => this.openUnopened()));
    }
    return stream;
  }

  /**
   * Stops taking requests (GOAWAY); requests not sent yet fail, the others
   * finish, and then the connection ends.
   */
  close(): void {
    if (this.destroyed) return;
    if (!this.unusable) {
      this.markUnusable();
      this.send(goawayFrame(0, ErrorCode.NO_ERROR));
    }
    this.failQueued(
      new H2Error(`connection to ${this.origin} is closing`, ErrorCode.REFUSED_STREAM),
    );
    if (this.active === 0) this.endSocket();
  }

  /** Ends the connection now; streams in flight fail. */
  destroy(): void {
    this.fail(new H2Error(`connection to ${this.origin} was closed by the host`, ErrorCode.CANCEL));
  }

  // ---- H2StreamOwner -------------------------------------------------------

  /** @private */
  open(stream: H2ClientStream): void {
    if (stream.headersSent || stream.closed || stream.queued) return;
    if (this.unusable) {
      stream.closed = true;
      stream.handlers.onError(
        new H2Error(`connection to ${this.origin} is closed`, ErrorCode.REFUSED_STREAM),
      );
      return;
    }
    if (this.active >= this.maxConcurrent) {
      stream.queued = true;
      this.slotQueue.push(stream);
      return;
    }
    if (this.nextStreamId > MAX_WINDOW) {
      // Stream ids are used up: this connection takes no more requests.
      stream.closed = true;
      stream.handlers.onError(
        new H2Error(`connection to ${this.origin} ran out of stream ids`, ErrorCode.REFUSED_STREAM),
      );
      this.close();
      return;
    }
    stream.id = this.nextStreamId;
    this.nextStreamId += 2;
    stream.headersSent = true;
    stream.sendWindow = this.peerInitialWindow;
    stream.recvWindow = this.streamWindow;
    this.streams.set(stream.id, stream);
    this.active++;
    // END_STREAM on HEADERS when the request has no body at all.
    const endsHere = stream.endRequested && stream.pendingBytes === 0;
    this.sendHeaderBlock(stream.id, stream.block, endsHere);
    if (endsHere) {
      stream.localEnded = true;
      if (stream.needDrain) this.drained(stream);
      return;
    }
    this.pump(stream);
  }

  /** @private */
  pump(stream: H2ClientStream): void {
    if (stream.closed || !stream.headersSent || stream.localEnded) return;
    if (!this.sendPending(stream, stream.endRequested)) return;
    if (stream.endRequested && !stream.localEnded) {
      this.sendData(stream.id, EMPTY, true);
      stream.localEnded = true;
    }
    if (stream.localEnded && stream.remoteEnded) this.forget(stream);
    if (stream.needDrain) this.drained(stream);
  }

  /** @private */
  reset(stream: H2ClientStream, code: number): void {
    if (stream.closed) return;
    if (stream.headersSent && !(stream.localEnded && stream.remoteEnded)) {
      this.send(rstStreamFrame(stream.id, code));
    }
    this.forget(stream);
  }

  /** @private */
  acknowledge(stream: H2ClientStream): void {
    const consumed = stream.recvConsumed;
    if (consumed === 0 || stream.remoteEnded) return;
    stream.recvConsumed = 0;
    stream.recvWindow += consumed;
    this.send(windowUpdateFrame(stream.id, consumed));
  }

  // ---- Output --------------------------------------------------------------

  private openUnopened(): void {
    this.openScheduled = false;
    const streams = this.unopened;
    this.unopened = [];
    for (const stream of streams) this.open(stream);
  }

  // ---- Input ---------------------------------------------------------------

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
        this.onSettings(flags, streamId, payload);
        return;
      case FrameType.PING:
        this.onPing(flags, streamId, payload);
        return;
      case FrameType.GOAWAY:
        this.onGoaway(streamId, payload);
        return;
      case FrameType.WINDOW_UPDATE:
        this.onWindowUpdate(streamId, payload);
        return;
      case FrameType.PUSH_PROMISE:
        this.protocolError(ErrorCode.PROTOCOL_ERROR, "PUSH_PROMISE with push disabled");
        return;
      default:
        this.onOtherFrame(type, streamId, payload);
        return;
    }
  }

  private onData(flags: number, streamId: number, data: Buffer, length: number): void {
    const stream = this.streamFor(streamId, "DATA");
    if (this.destroyed) return;
    // Every octet, padding included, counts against the connection window.
    this.recvConsumed += length;
    if (this.recvConsumed >= this.connectionWindow >>> 1) {
      this.send(windowUpdateFrame(0, this.recvConsumed));
      this.recvConsumed = 0;
    }
    if (stream === undefined) return; // reset or cancelled by us: dropped
    if (!stream.responded || stream.remoteEnded) {
      this.streamError(stream, ErrorCode.PROTOCOL_ERROR);
      return;
    }
    if (length > stream.recvWindow) {
      this.streamError(stream, ErrorCode.FLOW_CONTROL_ERROR);
      return;
    }
    stream.recvWindow -= length;
    stream.recvConsumed += length;
    const end = (flags & Flag.END_STREAM) !== 0;
    if (end) stream.remoteEnded = true;
    else if (!stream.paused && stream.recvConsumed >= this.streamWindow >>> 1) {
      this.acknowledge(stream);
    }
    if (data.length > 0) stream.handlers.onData(data);
    if (end && !stream.closed) this.remoteEnd(stream);
  }

  /** @private FrameSink: a whole header block. */
  onHeaderBlock(streamId: number, flags: number, block: Buffer): void {
    const stream = this.streamFor(streamId, "HEADERS");
    if (this.destroyed) return;
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
    // Decoded even for streams already gone: the HPACK table must stay in step.
    if (stream === undefined) return;
    if (tooLarge) {
      this.streamError(
        stream,
        ErrorCode.ENHANCE_YOUR_CALM,
        `${this.origin} sent a header list over the limit`,
      );
      return;
    }
    if (stream.remoteEnded) {
      this.streamError(stream, ErrorCode.STREAM_CLOSED);
      return;
    }
    const end = (flags & Flag.END_STREAM) !== 0;
    if (!stream.responded) {
      const status = fields[0] === ":status" ? fields[1]! : "";
      if (!/^[1-5]\d\d$/.test(status) || hasPseudoAfterFirst(fields)) {
        this.streamError(
          stream,
          ErrorCode.PROTOCOL_ERROR,
          `${this.origin} sent a malformed response`,
        );
        return;
      }
      if (status.charCodeAt(0) === 49 /* "1" */) {
        // Informational (1xx): the real response follows.
        if (end) this.streamError(stream, ErrorCode.PROTOCOL_ERROR);
        return;
      }
      stream.responded = true;
      if (end) stream.remoteEnded = true;
      stream.handlers.onResponse(fields, end);
    } else {
      if (!end || hasPseudo(fields)) {
        this.streamError(
          stream,
          ErrorCode.PROTOCOL_ERROR,
          `${this.origin} sent malformed trailers`,
        );
        return;
      }
      stream.remoteEnded = true;
      stream.handlers.onTrailers(fields);
    }
    if (end && !stream.closed) this.remoteEnd(stream);
  }

  private onRstStream(streamId: number, payload: Buffer): void {
    if (streamId === 0 || payload.length !== 4) {
      this.protocolError(ErrorCode.PROTOCOL_ERROR, "a malformed RST_STREAM");
      return;
    }
    const stream = this.streamFor(streamId, "RST_STREAM");
    if (stream === undefined) return;
    this.forget(stream);
    stream.handlers.onReset(payload.readUInt32BE(0));
  }

  private onSettings(flags: number, streamId: number, payload: Buffer): void {
    const settings = this.applySettings(flags, streamId, payload);
    if (settings === undefined) return;
    if (settings.maxConcurrentStreams !== undefined) {
      this.maxConcurrent = settings.maxConcurrentStreams;
    } else if (!this.settingsSeen) {
      // No limit (RFC 9113 §6.5.2 default).
      this.maxConcurrent = Number.POSITIVE_INFINITY;
    }
    this.settingsSeen = true;
    this.openFromQueue();
    this.pumpBlocked();
  }

  private onGoaway(streamId: number, payload: Buffer): void {
    if (streamId !== 0 || payload.length < 8) {
      this.protocolError(ErrorCode.PROTOCOL_ERROR, "a malformed GOAWAY");
      return;
    }
    const lastStreamId = payload.readUInt32BE(0) & MAX_WINDOW;
    const code = payload.readUInt32BE(4);
    this.markUnusable();
    const error = new H2Error(
      `${this.origin} went away (GOAWAY, error code ${code}) before answering`,
      ErrorCode.REFUSED_STREAM,
    );
    // Streams the provider never saw fail now; the others may finish.
    for (const stream of [...this.streams.values()]) {
      if (stream.id > lastStreamId) {
        this.forget(stream);
        stream.handlers.onError(error);
      }
    }
    this.failQueued(error);
    if (this.active === 0) this.endSocket();
  }

  // ---- Stream and connection state ----------------------------------------

  /** @private */
  protected override openStreams(): Iterable<H2ClientStream> {
    return this.streams.values();
  }

  /** @private */
  protected override windowUpdateStream(streamId: number): H2ClientStream | undefined {
    return this.streamFor(streamId, "WINDOW_UPDATE");
  }

  /**
   * The stream a frame is for. A frame on a stream this connection never
   * opened (stream 0, an even id, or one not used yet: RFC 9113 §5.1 "idle")
   * is a connection error; a stream already over gives undefined.
   */
  private streamFor(streamId: number, frameName: string): H2ClientStream | undefined {
    if (streamId === 0 || streamId % 2 === 0 || streamId >= this.nextStreamId) {
      this.protocolError(ErrorCode.PROTOCOL_ERROR, `${frameName} on a stream never opened`);
      return undefined;
    }
    return this.streams.get(streamId);
  }

  private remoteEnd(stream: H2ClientStream): void {
    if (!stream.localEnded) {
      // Answered before the request ended: the rest of the request is not wanted.
      this.send(rstStreamFrame(stream.id, ErrorCode.NO_ERROR));
    }
    this.forget(stream);
    stream.handlers.onEnd();
  }

  private forget(stream: H2ClientStream): void {
    if (stream.closed) return;
    stream.closed = true;
    stream.pending = [];
    stream.pendingBytes = 0;
    this.unblock(stream);
    if (stream.queued) {
      const index = this.slotQueue.indexOf(stream);
      if (index !== -1) this.slotQueue.splice(index, 1);
      return;
    }
    if (!stream.headersSent) return;
    this.streams.delete(stream.id);
    this.active--;
    this.openFromQueue();
    if (this.unusable && this.active === 0 && this.slotQueue.length === 0) this.endSocket();
  }

  private openFromQueue(): void {
    while (this.slotQueue.length > 0 && this.active < this.maxConcurrent && !this.unusable) {
      const stream = this.slotQueue.shift()!;
      stream.queued = false;
      this.open(stream);
    }
  }

  /** A stream-level error: RST_STREAM to the provider, `onReset` to the caller. */
  protected override streamError(stream: H2ClientStream, code: number, reason?: string): void {
    this.send(rstStreamFrame(stream.id, code));
    this.forget(stream);
    if (reason === undefined) stream.handlers.onReset(code);
    else stream.handlers.onError(new H2Error(reason, code));
  }

  /** A connection-level error: GOAWAY with `code`, then the connection ends. */
  protected override protocolError(code: number, what: string): void {
    if (this.destroyed) return;
    this.reader.stop();
    this.send(goawayFrame(0, code));
    this.writer.flush();
    this.fail(new H2Error(`${this.origin} broke the HTTP/2 protocol: ${what}`, code), true);
  }

  private markUnusable(): void {
    if (this.unusable) return;
    this.unusable = true;
    this.onUnusable?.();
  }

  private failQueued(error: H2Error): void {
    const waiting = [
      ...this.slotQueue,
      ...this.unopened.filter((s) => !s.headersSent && !s.closed),
    ];
    this.slotQueue.length = 0;
    this.unopened = [];
    for (const stream of waiting) {
      stream.closed = true;
      stream.queued = false;
      stream.handlers.onError(error);
    }
  }

  private endSocket(): void {
    if (this.destroyed) return;
    this.writer.flush();
    this.destroyed = true;
    this.socket.end();
  }

  /**
   * Ends the connection and fails what is in flight. `graceful`: the socket
   * is ended after what is queued is written (a GOAWAY), else destroyed.
   */
  private fail(error: H2Error, graceful = false): void {
    this.markUnusable();
    if (!this.destroyed) {
      this.destroyed = true;
      this.writer.close();
      if (graceful) this.socket.end();
      else this.socket.destroy();
    }
    const streams = [...this.streams.values()];
    this.streams.clear();
    this.active = 0;
    for (const stream of streams) {
      if (stream.closed) continue;
      stream.closed = true;
      stream.handlers.onError(error);
    }
    this.failQueued(error);
  }
}

function hasPseudo(fields: readonly string[]): boolean {
  for (let i = 0; i < fields.length; i += 2) {
    if (fields[i]!.charCodeAt(0) === 58 /* ":" */) return true;
  }
  return false;
}

function hasPseudoAfterFirst(fields: readonly string[]): boolean {
  for (let i = 2; i < fields.length; i += 2) {
    if (fields[i]!.charCodeAt(0) === 58 /* ":" */) return true;
  }
  return false;
}

/**
 * Opens an {@link H2ClientSession} to `origin` (`http:` for h2c, `https:`
 * for TLS with ALPN `h2`).
 */
export function connectH2Session(
  origin: string | URL,
  options?: H2SessionOptions,
): H2ClientSession {
  return new H2ClientSession(typeof origin === "string" ? new URL(origin) : origin, options);
}
