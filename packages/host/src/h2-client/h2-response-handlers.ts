/**
 * What an {@link H2ClientStream} reports, as plain callbacks: one object per
 * request, no event emitter. Every stream ends with exactly one of
 * `onEnd`, `onReset` or `onError` (none when the caller cancels it).
 */
export interface H2ResponseHandlers {
  /**
   * The response headers: names and values alternating, `:status` first.
   * `endStream` is true for a response without body (a gRPC
   * trailers-only answer); `onEnd` follows.
   */
  onResponse(fields: string[], endStream: boolean): void;
  /** A chunk of the response body, as it came. */
  onData(chunk: Buffer): void;
  /** The trailers (names and values alternating); `onEnd` follows. */
  onTrailers(fields: string[]): void;
  /** The provider ended the stream. */
  onEnd(): void;
  /**
   * The provider reset the stream (RST_STREAM with this HTTP/2 error code),
   * or it broke the protocol on this stream and the client reset it.
   */
  onReset(code: number): void;
  /** The connection failed or went away before the stream ended. */
  onError(error: Error): void;
  /** The request body can take more after `write()` returned false. */
  onDrain(): void;
}
