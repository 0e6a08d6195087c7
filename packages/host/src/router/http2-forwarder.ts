import type * as http from "node:http";
import type * as http2 from "node:http2";
import { Code } from "@connectrpc/connect";
import { ErrorCode } from "../h2/frame.js";
import type { H2ClientSession } from "../h2-client/h2-client-session.js";
import type { H2ClientStream } from "../h2-client/h2-client-stream.js";
import { codeName, codeOfHttpStatus } from "./error-response.js";
import { fieldValue, responseFieldHeaders } from "./forwarded-headers.js";
import type { RoutedCall } from "./routed-call.js";

const DEADLINE_EXCEEDED = codeName(Code.DeadlineExceeded);

/**
 * Forwards a call over the router's HTTP/2 connection to its provider
 * ({@link H2ClientSession}): request bytes as they come, the response's
 * headers, messages and trailers as they come (a trailers-only answer stays
 * trailers-only), the deadline as a timer that cancels the provider's
 * stream, and cancellation either way.
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
  session: H2ClientSession,
  fields: readonly string[],
  deadlineMs: number | undefined,
): void {
  const { req, res } = call;
  // The caller's own HTTP/2 stream, when it has one.
  const down = req.httpVersionMajor === 2 ? (req as http2.Http2ServerRequest).stream : undefined;
  let timer: NodeJS.Timeout | undefined;
  // The request body, as it comes, with one chunk held back until the next
  // one, the end of the request, or the socket reads of the next turn of the
  // event loop (a caller may send END_STREAM in a frame and a packet of its
  // own). When the end comes with the last chunk (every unary call), that
  // chunk goes out as one DATA frame with END_STREAM, in the same write as
  // the HEADERS.
  const source = down ?? req;
  let held: Buffer | undefined;
  let flushing: NodeJS.Immediate | undefined;
  let sourcePaused = false;
  let upPaused = false;

  const resumeUp = () => {
    if (!upPaused) return;
    upPaused = false;
    up.resume();
  };
  const up: H2ClientStream = session.request(fields, {
    onResponse(responseFields, endStream) {
      call.answered();
      // Already answered (deadline): nothing more to send.
      if (res.headersSent || res.writableEnded) return;
      const status = Number(responseFields[1]);
      if (call.protocol === "connect-unary") {
        const c = codeOfHttpStatus(status);
        if (c !== undefined) call.code = codeName(c);
      } else {
        const grpcStatus = fieldValue(responseFields, "grpc-status");
        if (grpcStatus !== undefined && grpcStatus !== "0") {
          call.code = codeName(Number(grpcStatus) as Code);
        }
      }
      if (down === undefined) {
        (res as http.ServerResponse).writeHead(
          status,
          responseFieldHeaders(responseFields, undefined),
        );
        return;
      }
      if (down.destroyed || down.closed) return;
      if (endStream) {
        // Trailers-only (a gRPC error): one HEADERS frame that ends the stream.
        down.respond(responseFieldHeaders(responseFields, status), { endStream: true });
        res.end();
        return;
      }
      down.respond(responseFieldHeaders(responseFields, status), { waitForTrailers: true });
    },
    onData(chunk) {
      if (down !== undefined) {
        if (down.destroyed) return;
        if (!down.write(chunk) && !upPaused) {
          upPaused = true;
          up.pause();
          down.once("drain", resumeUp);
        }
      } else if (!(res as http.ServerResponse).write(chunk) && !upPaused) {
        upPaused = true;
        up.pause();
        res.once("drain", resumeUp);
      }
    },
    onTrailers(trailers) {
      const grpcStatus = fieldValue(trailers, "grpc-status");
      if (grpcStatus !== undefined && grpcStatus !== "0") {
        call.code = codeName(Number(grpcStatus) as Code);
      }
      // Sent when the response ends (the compatibility layer's wantTrailers listener).
      res.addTrailers(responseFieldHeaders(trailers, undefined));
    },
    onEnd() {
      clearTimeout(timer);
      if (res.writableEnded || call.callerGone) return;
      if (res.headersSent) res.end();
      else {
        // Headers were never passed on (a trailers-only answer ends the call itself).
        call.transportFailed();
        call.unavailable(`provider "${call.providerId}" closed the stream without answering`);
      }
    },
    onReset(code) {
      clearTimeout(timer);
      if (res.writableEnded || call.callerGone) return;
      if (res.headersSent && code === ErrorCode.NO_ERROR) {
        res.end();
      } else if (res.headersSent) {
        call.unavailable(`provider "${call.providerId}" reset the stream`);
      } else {
        call.transportFailed();
        call.unavailable(`provider "${call.providerId}" closed the stream without answering`);
      }
    },
    onError(error) {
      clearTimeout(timer);
      if (call.callerGone || res.writableEnded) return;
      if (!res.headersSent) {
        call.transportFailed();
        call.unavailable(`provider "${call.providerId}" failed: ${error.message}`);
      } else {
        call.unavailable(`provider "${call.providerId}" failed mid-stream`);
      }
    },
    onDrain() {
      if (!sourcePaused) return;
      sourcePaused = false;
      source.resume();
    },
  });
  if (deadlineMs !== undefined) {
    timer = setTimeout(() => {
      call.code = DEADLINE_EXCEEDED;
      up.cancel();
      call.fail(Code.DeadlineExceeded, "deadline exceeded");
    }, deadlineMs);
  }
  // The caller went away (or the call ended): cancel the provider's side too.
  call.release = () => {
    clearTimeout(timer);
    up.cancel();
  };

  const send = (chunk: Buffer) => {
    if (!up.write(chunk) && !sourcePaused) {
      sourcePaused = true;
      source.pause();
    }
  };
  const flush = () => {
    flushing = undefined;
    const chunk = held;
    held = undefined;
    if (chunk !== undefined) send(chunk);
  };
  // An immediate queued by an immediate runs after the next poll phase.
  const flushAfterReads = () => {
    flushing = setImmediate(flush);
  };
  source.on("data", (chunk: Buffer) => {
    if (held !== undefined) send(held);
    held = chunk;
    flushing ??= setImmediate(flushAfterReads);
  });
  source.on("end", () => {
    clearImmediate(flushing);
    flushing = undefined;
    const chunk = held;
    held = undefined;
    up.end(chunk);
  });
}
