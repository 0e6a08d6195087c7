import type * as http from "node:http";
import * as http2 from "node:http2";
import { Code } from "@connectrpc/connect";
import { codeName, codeOfHttpStatus } from "./error-response.js";
import { responseHeaders } from "./forwarded-headers.js";
import type { RoutedCall } from "./routed-call.js";

const { NGHTTP2_CANCEL, NGHTTP2_NO_ERROR, NGHTTP2_FLAG_END_STREAM } = http2.constants;
const DEADLINE_EXCEEDED = codeName(Code.DeadlineExceeded);

/**
 * Forwards a call over an HTTP/2 session to its provider: request bytes and
 * frames as they come, the response's headers, messages and trailers as they
 * come (a trailers-only answer stays trailers-only), the deadline as a timer
 * that cancels the provider's stream, and cancellation either way.
 *
 * When the caller speaks HTTP/2 too, the router answers on the caller's own
 * stream (`req.stream`) instead of the compatibility response: no header
 * copies or checks of the compatibility layer, no extra readable stream for
 * the request body. The compatibility response still ends the call, so its
 * state (ended, trailers) stays true for error answers and for the listeners
 * of its `close` event.
 */
export function forwardHttp2(
  call: RoutedCall,
  session: http2.ClientHttp2Session,
  headers: http2.OutgoingHttpHeaders,
  deadlineMs: number | undefined,
): void {
  const { req, res } = call;
  // The caller's own HTTP/2 stream, when it has one.
  const down = req.httpVersionMajor === 2 ? (req as http2.Http2ServerRequest).stream : undefined;
  const up = session.request(headers);
  let timer: NodeJS.Timeout | undefined;
  if (deadlineMs !== undefined) {
    timer = setTimeout(() => {
      call.code = DEADLINE_EXCEEDED;
      up.close(NGHTTP2_CANCEL);
      call.fail(Code.DeadlineExceeded, "deadline exceeded");
    }, deadlineMs);
  }
  // The caller went away (or the call ended): cancel the provider's side too.
  call.release = () => {
    clearTimeout(timer);
    if (!up.closed) up.close(NGHTTP2_CANCEL);
  };

  const onData = (chunk: Buffer) => {
    if (down !== undefined) {
      if (down.destroyed) return;
      if (!down.write(chunk)) {
        up.pause();
        down.once("drain", () => up.resume());
      }
    } else if (!(res as http.ServerResponse).write(chunk)) {
      up.pause();
      res.once("drain", () => up.resume());
    }
  };
  up.on("response", (h, flags: number) => {
    call.answered();
    // Already answered (deadline): nothing more to send.
    if (res.headersSent || res.writableEnded) return;
    const status = Number(h[":status"] ?? 502);
    if (call.protocol === "connect-unary") {
      const c = codeOfHttpStatus(status);
      if (c !== undefined) call.code = codeName(c);
    } else {
      const grpcStatus = h["grpc-status"];
      if (grpcStatus !== undefined && grpcStatus !== "0") {
        call.code = codeName(Number(grpcStatus) as Code);
      }
    }
    if (down === undefined) {
      (res as http.ServerResponse).writeHead(status, responseHeaders(h, undefined));
    } else {
      if (down.destroyed || down.closed) return;
      if (flags & NGHTTP2_FLAG_END_STREAM) {
        // Trailers-only (a gRPC error): one HEADERS frame that ends the stream.
        down.respond(responseHeaders(h, status), { endStream: true });
        res.end();
        return;
      }
      down.respond(responseHeaders(h, status), { waitForTrailers: true });
    }
    up.on("data", onData);
  });
  up.on("trailers", (t) => {
    const grpcStatus = t["grpc-status"];
    if (grpcStatus !== undefined && grpcStatus !== "0") {
      call.code = codeName(Number(grpcStatus) as Code);
    }
    // Sent when the response ends (the compatibility layer's wantTrailers listener).
    res.addTrailers(responseHeaders(t, undefined));
  });
  up.on("end", () => {
    clearTimeout(timer);
    if (!res.writableEnded) res.end();
  });
  up.on("error", (error) => {
    clearTimeout(timer);
    if (call.callerGone) return;
    if (!res.headersSent) {
      call.transportFailed();
      call.unavailable(`provider "${call.providerId}" failed: ${error.message}`);
    } else if (!res.writableEnded) {
      call.unavailable(`provider "${call.providerId}" failed mid-stream`);
    }
  });
  up.on("close", () => {
    clearTimeout(timer);
    if (res.writableEnded || call.callerGone) return;
    if (res.headersSent) {
      // Reset by the provider after answering: end the caller's stream too.
      if (up.rstCode !== NGHTTP2_NO_ERROR) {
        call.unavailable(`provider "${call.providerId}" reset the stream`);
      } else {
        res.end();
      }
    } else {
      call.transportFailed();
      call.unavailable(`provider "${call.providerId}" closed the stream without answering`);
    }
  });

  // The request body, as it comes, with one chunk held back until the next
  // one, the end of the request or the next turn of the event loop. When the
  // end comes with the last chunk (every unary call), that chunk goes out as
  // one DATA frame with END_STREAM: the provider gets the whole request in
  // one read, instead of an empty END_STREAM frame in a second write.
  const source = down ?? req;
  let held: Buffer | undefined;
  let flushing: NodeJS.Immediate | undefined;
  const send = (chunk: Buffer) => {
    if (up.destroyed || up.writableEnded) return;
    if (!up.write(chunk)) {
      source.pause();
      up.once("drain", () => source.resume());
    }
  };
  const flush = () => {
    flushing = undefined;
    const chunk = held;
    held = undefined;
    if (chunk !== undefined) send(chunk);
  };
  source.on("data", (chunk: Buffer) => {
    if (held !== undefined) send(held);
    held = chunk;
    flushing ??= setImmediate(flush);
  });
  source.on("end", () => {
    clearImmediate(flushing);
    flushing = undefined;
    const chunk = held;
    held = undefined;
    if (up.destroyed || up.writableEnded) return;
    if (chunk === undefined) up.end();
    else up.end(chunk);
  });
}
