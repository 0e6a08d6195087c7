import type * as http2 from "node:http2";

/** What a request made with {@link h2Call} got back. */
export interface H2Reply {
  /** Response headers (`:status` included); empty when the stream was reset before them. */
  readonly headers: http2.IncomingHttpHeaders;
  /** The response headers ended the stream (no body, no trailers). */
  readonly headersEndedStream: boolean;
  readonly body: Buffer;
  readonly trailers: http2.IncomingHttpHeaders | undefined;
  /** RST_STREAM code the stream closed with (0: none or NO_ERROR). */
  readonly rstCode: number;
}

/**
 * Sends a POST to `path` on a `node:http2` client session with `body` (none:
 * END_STREAM on the headers) and resolves once the stream closes, however
 * it ends, with everything that came back.
 */
export function h2Call(
  client: http2.ClientHttp2Session,
  path: string,
  body?: Buffer | string,
  headers: http2.OutgoingHttpHeaders = {},
): Promise<H2Reply> {
  return new Promise((resolve) => {
    const req = client.request({ ":method": "POST", ":path": path, ...headers });
    const chunks: Buffer[] = [];
    let responseHeaders: http2.IncomingHttpHeaders = {};
    let headersEndedStream = false;
    let trailers: http2.IncomingHttpHeaders | undefined;
    req.on("response", (h, flags) => {
      responseHeaders = h;
      headersEndedStream = (flags & 0x1) !== 0;
    });
    req.on("trailers", (t) => {
      trailers = t;
    });
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    // A reset stream reports its code through rstCode; the error adds nothing.
    req.on("error", () => {});
    req.on("close", () =>
      resolve({
        headers: responseHeaders,
        headersEndedStream,
        body: Buffer.concat(chunks),
        trailers,
        rstCode: req.rstCode ?? 0,
      }),
    );
    req.end(body);
  });
}
