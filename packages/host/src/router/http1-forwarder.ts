import * as http from "node:http";
import * as https from "node:https";
import { Code } from "@connectrpc/connect";
import { codeName, codeOfHttpStatus } from "./error-response.js";
import { responseHeaders } from "./forwarded-headers.js";
import type { RoutedCall } from "./routed-call.js";
import type { UpstreamTarget } from "./upstream-target.js";

const DEADLINE_EXCEEDED = codeName(Code.DeadlineExceeded);

/**
 * Forwards a call over HTTP/1.1 (keep-alive `agent`) to a provider that
 * speaks only HTTP/1.1, as Go plugins do: the request body and the response
 * as they come, the deadline as a timer that aborts the request, and
 * cancellation either way.
 */
export function forwardHttp1(
  call: RoutedCall,
  target: UpstreamTarget,
  path: string,
  headers: Record<string, string | string[]>,
  agent: http.Agent,
  deadlineMs: number | undefined,
): void {
  const { req, res } = call;
  const request = (target.https ? https : http).request({
    protocol: target.https ? "https:" : "http:",
    hostname: target.hostname,
    port: target.port,
    method: req.method ?? "POST",
    path,
    headers,
    agent,
  });
  let timer: NodeJS.Timeout | undefined;
  if (deadlineMs !== undefined) {
    timer = setTimeout(() => {
      call.code = DEADLINE_EXCEEDED;
      request.destroy();
      call.fail(Code.DeadlineExceeded, "deadline exceeded");
    }, deadlineMs);
  }
  call.release = () => {
    clearTimeout(timer);
    if (!request.destroyed) request.destroy();
  };
  request.on("response", (upstream) => {
    call.answered();
    const status = upstream.statusCode ?? 502;
    if (call.protocol === "connect-unary") {
      const c = codeOfHttpStatus(status);
      if (c !== undefined) call.code = codeName(c);
    }
    (res as http.ServerResponse).writeHead(status, responseHeaders(upstream.headers, undefined));
    upstream.on("data", (chunk: Buffer) => {
      if (!(res as http.ServerResponse).write(chunk)) {
        upstream.pause();
        res.once("drain", () => upstream.resume());
      }
    });
    upstream.on("end", () => {
      clearTimeout(timer);
      if (!res.writableEnded) res.end();
    });
    upstream.on("error", () => {
      clearTimeout(timer);
      if (!res.writableEnded)
        call.fail(Code.Unavailable, `provider "${call.providerId}" failed mid-stream`);
    });
  });
  request.on("error", (error) => {
    clearTimeout(timer);
    if (res.writableEnded || call.callerGone) return;
    if (!res.headersSent) call.transportFailed();
    call.unavailable(`provider "${call.providerId}" failed: ${error.message}`);
  });
  req.on("data", (chunk: Buffer) => {
    if (!request.write(chunk)) {
      req.pause();
      request.once("drain", () => req.resume());
    }
  });
  req.on("end", () => request.end());
}
