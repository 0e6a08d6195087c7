/**
 * What the application of an {@link H2ServerSession} hears about one
 * request, after its headers (`onStream`). Callbacks run synchronously from
 * the socket's reads; a callback may respond, write, end or reset the stream.
 */
export interface H2RequestHandlers {
  /**
   * A chunk of the request body. The buffer is only lent for the call when
   * the application keeps it beyond a later `pause()` or for long: copy it
   * then (it is a view into the socket's read buffer).
   */
  onData(chunk: Buffer): void;
  /**
   * The request body is complete (END_STREAM). `trailers` are the request's
   * trailer fields, names and values alternating, when the client sent any.
   * Not called on a stream that is over already: reset by the application,
   * or answered completely before the request ended (the client was then
   * told to stop sending, RFC 9113 §8.1).
   */
  onEnd(trailers: string[] | undefined): void;
  /**
   * The stream is over before it completed: the client reset it (RST_STREAM
   * with this HTTP/2 error code), broke the protocol on it, or the
   * connection ended (CANCEL, or the connection error's code). No callback
   * follows.
   */
  onReset(code: number): void;
  /** Everything written is sent (or handed to the socket): write more. */
  onDrain(): void;
  /**
   * The response is completely sent and the request is over: the stream
   * ended normally. Last callback. (A stream that ends otherwise gets
   * `onReset`, or nothing when the application reset it.)
   */
  onComplete?(): void;
}
