import type * as http from "node:http";
import type * as http2 from "node:http2";
import { Code } from "@connectrpc/connect";
import type { WireProtocol } from "./wire-protocol.js";

type Response = http.ServerResponse | http2.Http2ServerResponse;

/**
 * Connect's name of a code, e.g. `Code.NotFound` -> `"not_found"`.
 */
export function codeName(code: Code): string {
  return Code[code]!.replace(/([a-z])([A-Z])/g, "$1_$2").toLowerCase();
}

// HTTP status of a Connect unary error, per the Connect protocol.
const httpStatus: Partial<Record<Code, number>> = {
  [Code.Canceled]: 499,
  [Code.Unknown]: 500,
  [Code.InvalidArgument]: 400,
  [Code.DeadlineExceeded]: 504,
  [Code.NotFound]: 404,
  [Code.AlreadyExists]: 409,
  [Code.PermissionDenied]: 403,
  [Code.ResourceExhausted]: 429,
  [Code.FailedPrecondition]: 400,
  [Code.Aborted]: 409,
  [Code.OutOfRange]: 400,
  [Code.Unimplemented]: 501,
  [Code.Internal]: 500,
  [Code.Unavailable]: 503,
  [Code.DataLoss]: 500,
  [Code.Unauthenticated]: 401,
};

/**
 * The Connect code most likely behind a Connect unary HTTP status (for
 * metrics; the body has the exact code). `undefined` for 200.
 */
export function codeOfHttpStatus(status: number): Code | undefined {
  if (status >= 200 && status < 300) return undefined;
  for (const [code, s] of Object.entries(httpStatus)) {
    if (s === status) return Number(code) as Code;
  }
  return Code.Unknown;
}

const encodeGrpcMessage = (message: string) => encodeURIComponent(message).replace(/%20/g, " ");

/**
 * Answers a request with an RPC error in the protocol the caller speaks:
 * a Connect JSON error body with the matching HTTP status, a Connect
 * end-of-stream message, gRPC trailers, or a gRPC-Web trailer frame. When the
 * response has already started, the error is written as the end of the
 * stream where the protocol allows it, and the response is ended.
 */
export function writeRpcError(
  res: Response,
  protocol: WireProtocol,
  code: Code,
  message: string,
  requestContentType: string | undefined,
): void {
  if (res.writableEnded) return;
  const name = codeName(code);
  const started = res.headersSent;
  switch (protocol) {
    case "connect-unary": {
      if (started) break;
      const body = JSON.stringify({ code: name, message });
      (res as http.ServerResponse).writeHead(httpStatus[code] ?? 500, {
        "content-type": "application/json",
        "content-length": Buffer.byteLength(body),
      });
      res.end(body);
      return;
    }
    case "connect-stream": {
      const json = Buffer.from(JSON.stringify({ error: { code: name, message } }));
      const frame = Buffer.alloc(5 + json.length);
      frame[0] = 0b10; // end-of-stream flag
      frame.writeUInt32BE(json.length, 1);
      json.copy(frame, 5);
      if (!started) {
        (res as http.ServerResponse).writeHead(200, {
          "content-type": requestContentType ?? "application/connect+proto",
        });
      }
      res.end(frame);
      return;
    }
    case "grpc": {
      if (!started) {
        (res as http.ServerResponse).writeHead(200, {
          "content-type": requestContentType ?? "application/grpc",
        });
      }
      res.addTrailers({ "grpc-status": String(code), "grpc-message": encodeGrpcMessage(message) });
      res.end();
      return;
    }
    case "grpc-web": {
      const trailer = Buffer.from(
        `grpc-status: ${code}\r\ngrpc-message: ${encodeGrpcMessage(message)}\r\n`,
      );
      const frame = Buffer.alloc(5 + trailer.length);
      frame[0] = 0x80; // trailer frame
      frame.writeUInt32BE(trailer.length, 1);
      trailer.copy(frame, 5);
      if (!started) {
        (res as http.ServerResponse).writeHead(200, {
          "content-type": requestContentType ?? "application/grpc-web+proto",
        });
      }
      res.end(frame);
      return;
    }
  }
  res.end();
}
