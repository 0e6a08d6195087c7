import { ErrorCode } from "../h2/frame.js";
import type { H2ClientSession } from "../h2-client/h2-client-session.js";
import type { H2RequestHandlers } from "../h2-server/h2-request-handlers.js";
import type { H2ServerStream } from "../h2-server/h2-server-stream.js";

/**
 * Relays a request from the host's HTTP/2 server (`down`) over an HTTP/2
 * client connection (`session`) and its response back, frame for frame:
 * the same header fields, the body as it comes with flow control both ways
 * (each side pauses the other while it cannot take more), the trailers, and
 * resets in either direction. Returns the handlers of `down`'s request.
 */
export function relayStream(down: H2ServerStream, session: H2ClientSession): H2RequestHandlers {
  let trailers: string[] | undefined;
  let upPaused = false;
  let downPaused = false;
  const up = session.request(down.fields, {
    onResponse(fields, endStream) {
      down.respond(fields, endStream);
    },
    onData(chunk) {
      if (!down.write(chunk) && !upPaused) {
        upPaused = true;
        up.pause();
      }
    },
    onTrailers(fields) {
      trailers = fields;
    },
    onEnd() {
      if (down.headersSent) down.end(trailers);
      else down.reset(ErrorCode.INTERNAL_ERROR);
    },
    onReset(code) {
      down.reset(code);
    },
    onError() {
      down.reset(ErrorCode.INTERNAL_ERROR);
    },
    onDrain() {
      if (!downPaused) return;
      downPaused = false;
      down.resume();
    },
  });
  return {
    onData(chunk) {
      if (!up.write(chunk) && !downPaused) {
        downPaused = true;
        down.pause();
      }
    },
    onEnd() {
      up.end();
    },
    onReset(code) {
      up.cancel(code);
    },
    onDrain() {
      if (!upPaused) return;
      upPaused = false;
      up.resume();
    },
  };
}
