import type * as http from "node:http";
import type * as http2 from "node:http2";
import type { ServingStatusRegistry } from "../health/serving-status.js";

/**
 * Answers the plain HTTP probes: `GET /healthz` (liveness: 200 `ok` while the
 * process runs) and `GET /readyz` (200 `ready` while the host serves, 503
 * `not ready` otherwise). Returns false for any other path.
 */
export function handleProbe(
  req: http.IncomingMessage | http2.Http2ServerRequest,
  res: http.ServerResponse | http2.Http2ServerResponse,
  serving: ServingStatusRegistry,
): boolean {
  const path = (req.url ?? "").split("?")[0];
  if (path !== "/healthz" && path !== "/readyz") return false;
  if (req.method !== "GET" && req.method !== "HEAD") {
    res.writeHead(405, { allow: "GET, HEAD", "content-type": "text/plain" });
    res.end("method not allowed\n");
    return true;
  }
  const ok = path === "/healthz" || serving.get("") === "serving";
  const body = path === "/healthz" ? "ok\n" : ok ? "ready\n" : "not ready\n";
  res.writeHead(ok ? 200 : 503, { "content-type": "text/plain; charset=utf-8" });
  if (req.method === "HEAD") res.end();
  else res.end(body);
  return true;
}
