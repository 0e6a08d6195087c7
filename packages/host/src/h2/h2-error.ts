/**
 * A failure of an HTTP/2 connection or stream of the host's own client or
 * server, with the HTTP/2 error code (RFC 9113 §7) that describes it.
 */
export class H2Error extends Error {
  override name = "H2Error";
  /** HTTP/2 error code, e.g. 0x7 REFUSED_STREAM when the provider never saw the request. */
  readonly code: number;

  constructor(message: string, code: number) {
    super(message);
    this.code = code;
  }
}
