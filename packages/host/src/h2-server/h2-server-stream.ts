import { ErrorCode } from "../h2/frame.js";
import type { H2RequestHandlers } from "./h2-request-handlers.js";

/**
 * What a stream needs from its session; implemented by `H2ServerSession`.
 * @private
 */
export interface H2ServerStreamOwner {
  /** Sends the response HEADERS. */
  respond(stream: H2ServerStream, fields: readonly string[], endStream: boolean): void;
  /** Sends what the flow-control windows allow of the stream's queued body, then its end. */
  pump(stream: H2ServerStream): void;
  /** Resets the stream and forgets it. */
  reset(stream: H2ServerStream, code: number): void;
  /** Grants the client the window the stream has consumed. */
  acknowledge(stream: H2ServerStream): void;
  /** Whether the socket wants the writer to wait for `drain`. */
  readonly socketBlocked: boolean;
  /** Remembers a stream to tell when the socket drains. */
  waitForSocket(stream: H2ServerStream): void;
}

/**
 * One request on an {@link H2ServerSession}. Its headers are in `fields`;
 * its body and end come to the {@link H2RequestHandlers} the application
 * returned from `onStream`. The response goes out with `respond`, `write`
 * (flow-controlled; `false` means wait for `onDrain`) and `end` (with
 * trailers or without). `pause` stops granting the client flow-control
 * window for the request body until `resume`.
 */
export class H2ServerStream {
  /** HTTP/2 stream id (odd, chosen by the client). */
  readonly id: number;
  /** The request headers: names and values alternating, pseudo-headers first. */
  readonly fields: string[];
  /** @private Set by the session from `onStream`'s answer. */
  handlers: H2RequestHandlers | undefined = undefined;
  /** @private Response body not sent yet (windows closed). */
  pending: Buffer[] = [];
  /** @private */
  pendingBytes = 0;
  /** @private `end()` was called: END_STREAM goes with the last of `pending`, or with the trailers. */
  endRequested = false;
  /** @private The trailer fields given to `end()`, sent after the body. */
  trailers: readonly string[] | undefined = undefined;
  /** @private Response HEADERS sent. */
  responded = false;
  /** @private END_STREAM sent. */
  localEnded = false;
  /** @private END_STREAM received. */
  remoteEnded = false;
  /** @private Forgotten by the session: completed, reset or failed. */
  closed = false;
  /** @private The response was completely sent (the stream ended normally). */
  completed = false;
  /** @private Window the client gave this stream for the response body. */
  sendWindow = 0;
  /** @private Window this stream gave the client for the request body. */
  recvWindow = 0;
  /** @private Request octets delivered but not yet granted back (stream level). */
  recvConsumed = 0;
  /** @private Request octets delivered while paused, not yet granted back at connection level. */
  heldForConnection = 0;
  /** @private */
  paused = false;
  /** @private `write()` returned false: tell `onDrain` once everything is out. */
  needDrain = false;
  private readonly owner: H2ServerStreamOwner;

  constructor(owner: H2ServerStreamOwner, id: number, fields: string[]) {
    this.owner = owner;
    this.id = id;
    this.fields = fields;
  }

  /** The value of the first request field called `name` (lowercase), if any. */
  header(name: string): string | undefined {
    const fields = this.fields;
    for (let i = 0; i < fields.length; i += 2) {
      if (fields[i] === name) return fields[i + 1];
    }
    return undefined;
  }

  /** True once the stream is over: completed, reset or failed. */
  get isClosed(): boolean {
    return this.closed;
  }

  /** True once the response headers are sent. */
  get headersSent(): boolean {
    return this.responded;
  }

  /**
   * Sends the response headers (`:status` first, names lowercase). With
   * `endStream` the response has no body and no trailers (a gRPC
   * trailers-only answer). Ignored on a stream that is over; a second call
   * throws.
   */
  respond(fields: readonly string[], endStream = false): void {
    if (this.closed) return;
    if (this.responded) throw new Error("HTTP/2 stream: the response headers were already sent");
    this.owner.respond(this, fields, endStream);
  }

  /**
   * Queues a chunk of the response body; false when the application should
   * wait for `onDrain` before writing more. A stream that is over drops the
   * chunk and returns true: there is nothing to wait for.
   */
  write(chunk: Buffer): boolean {
    if (this.closed || this.endRequested) return true;
    if (!this.responded) throw new Error("HTTP/2 stream: write() before respond()");
    if (chunk.length > 0) {
      this.pending.push(chunk);
      this.pendingBytes += chunk.length;
    }
    this.owner.pump(this);
    if (this.closed) return true;
    if (this.pendingBytes > 0 || this.owner.socketBlocked) {
      this.needDrain = true;
      if (this.pendingBytes === 0) this.owner.waitForSocket(this);
      return false;
    }
    return true;
  }

  /**
   * Ends the response after what is queued: with `trailers` (names and
   * values alternating, no pseudo-headers) as a final HEADERS frame, else
   * with END_STREAM on the last DATA frame.
   */
  end(trailers?: readonly string[]): void {
    if (this.closed || this.endRequested) return;
    if (!this.responded) throw new Error("HTTP/2 stream: end() before respond()");
    this.endRequested = true;
    if (trailers !== undefined && trailers.length > 0) this.trailers = trailers;
    this.owner.pump(this);
  }

  /** Resets the stream (RST_STREAM with `code`, CANCEL by default); no more callbacks. */
  reset(code: number = ErrorCode.CANCEL): void {
    if (this.closed) return;
    this.owner.reset(this, code);
  }

  /** Stops granting the client window: it stops sending once what it has is used up. */
  pause(): void {
    this.paused = true;
  }

  /** Grants the client the window used while paused. */
  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    if (!this.closed) this.owner.acknowledge(this);
  }
}
