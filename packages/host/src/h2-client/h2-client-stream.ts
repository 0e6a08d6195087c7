import { ErrorCode } from "../h2/frame.js";
import type { H2ResponseHandlers } from "./h2-response-handlers.js";

/**
 * What a stream needs from its session; implemented by `H2ClientSession`.
 * @private
 */
export interface H2StreamOwner {
  /** Sends (or queues, when the session is at its stream limit) the stream's HEADERS. */
  open(stream: H2ClientStream): void;
  /** Sends what the flow-control windows allow of the stream's queued body. */
  pump(stream: H2ClientStream): void;
  /** Resets the stream and forgets it. */
  reset(stream: H2ClientStream, code: number): void;
  /** Grants the provider the window the stream has consumed. */
  acknowledge(stream: H2ClientStream): void;
  /** Whether the socket wants the writer to wait for `drain`. */
  readonly socketBlocked: boolean;
  /** Remembers a stream to tell when the socket drains. */
  waitForSocket(stream: H2ClientStream): void;
}

/**
 * One request on an {@link H2ClientSession}: the request body goes out with
 * `write` and `end` (flow-controlled; `false` means wait for `onDrain`), the
 * response comes to the {@link H2ResponseHandlers} given to `request`.
 * `pause` stops granting the provider flow-control window until `resume`.
 */
export class H2ClientStream {
  /** HTTP/2 stream id; 0 until the HEADERS frame is sent. */
  id = 0;
  /** The HPACK block of the request headers. */
  readonly block: Buffer;
  readonly handlers: H2ResponseHandlers;
  /** Body not sent yet (windows closed or HEADERS not sent yet). */
  pending: Buffer[] = [];
  pendingBytes = 0;
  /** `end()` was called: END_STREAM goes with the last of `pending`. */
  endRequested = false;
  /** HEADERS sent. */
  headersSent = false;
  /** END_STREAM sent. */
  localEnded = false;
  /** END_STREAM received. */
  remoteEnded = false;
  /** The response headers arrived (later HEADERS are trailers). */
  responded = false;
  /** Forgotten by the session: ended, reset, cancelled or failed. */
  closed = false;
  /** Window the provider gave this stream for the request body. */
  sendWindow = 0;
  /** Window this stream gave the provider for the response body. */
  recvWindow = 0;
  /** Response octets delivered but not yet granted back. */
  recvConsumed = 0;
  paused = false;
  /** `write()` returned false: tell `onDrain` once everything is out. */
  needDrain = false;
  /** Waiting for a free stream slot (SETTINGS_MAX_CONCURRENT_STREAMS). */
  queued = false;
  readonly owner: H2StreamOwner;

  constructor(owner: H2StreamOwner, block: Buffer, handlers: H2ResponseHandlers) {
    this.owner = owner;
    this.block = block;
    this.handlers = handlers;
  }

  /**
   * Queues a chunk of the request body; false when the caller should wait
   * for `onDrain` before writing more. A stream that is over (answered,
   * reset, cancelled) drops the chunk and returns true: there is nothing to
   * wait for.
   */
  write(chunk: Buffer): boolean {
    if (this.closed || this.endRequested) return true;
    if (chunk.length > 0) {
      this.pending.push(chunk);
      this.pendingBytes += chunk.length;
    }
    this.flush();
    // Failed while sending (the connection was gone): nothing to wait for.
    if (this.closed) return true;
    if (this.pendingBytes > 0 || this.owner.socketBlocked) {
      this.needDrain = true;
      if (this.pendingBytes === 0) this.owner.waitForSocket(this);
      return false;
    }
    return true;
  }

  /** Ends the request body, with a last chunk if given (sent in the same frame). */
  end(chunk?: Buffer): void {
    if (this.closed || this.endRequested) return;
    if (chunk !== undefined && chunk.length > 0) {
      this.pending.push(chunk);
      this.pendingBytes += chunk.length;
    }
    this.endRequested = true;
    this.flush();
  }

  /** Cancels the stream: RST_STREAM to the provider, no more callbacks. */
  cancel(code: number = ErrorCode.CANCEL): void {
    if (this.closed) return;
    this.owner.reset(this, code);
  }

  /** Stops granting the provider window: it stops sending once what it has is used up. */
  pause(): void {
    this.paused = true;
  }

  /** Grants the provider the window used while paused. */
  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    if (!this.closed) this.owner.acknowledge(this);
  }

  private flush(): void {
    if (this.headersSent) this.owner.pump(this);
    else this.owner.open(this);
  }
}
