import type * as http from "node:http";
import type * as http2 from "node:http2";
import { createContextValues } from "@connectrpc/connect";
import { constantTimeEqual } from "@cpg/auth";
import { attachPeerCertificate } from "@cpg/auth/node";
import { API_KEY_HEADER } from "@cpg/protocol";
import type { AdminAccess } from "../admin/operator-authenticator.js";
import { verifiedPeerIdentity } from "../security/peer-identity.js";
import type { HostMetrics } from "./host-metrics.js";

type Request = http.IncomingMessage | http2.Http2ServerRequest;
type Response = http.ServerResponse | http2.Http2ServerResponse;

/** Path of the Prometheus endpoint. */
export const METRICS_PATH = "/metrics";

/**
 * Options of {@link createMetricsEndpoint}.
 * @private
 */
export interface MetricsEndpointOptions {
  readonly metrics: HostMetrics;
  /** Who may read the metrics: any admin API key (`viewer` or `operator`) or operator certificate. */
  readonly admin: AdminAccess;
  /** Serve without credentials. */
  readonly public: boolean;
}

/**
 * The `GET /metrics` handler of the host: returns true when it answered the
 * request (the path is `/metrics`), false to let other handlers have it.
 * Without `public`, a request needs an admin API key in `X-API-Key` (any
 * role) or a verified client certificate of an operator; else 401 (an
 * unknown key too).
 * @private
 */
export function createMetricsEndpoint(
  options: MetricsEndpointOptions,
): (req: Request, res: Response) => boolean {
  const keys = Object.keys(options.admin.apiKeys ?? {});
  const operators = new Set(options.admin.operators ?? []);
  const allowed = (req: Request): boolean => {
    if (options.public) return true;
    const key = req.headers[API_KEY_HEADER];
    if (typeof key === "string") {
      let match = false;
      // Compare against every key, in constant time, whatever matches first.
      for (const candidate of keys) if (constantTimeEqual(key, candidate)) match = true;
      return match;
    }
    if (operators.size === 0) return false;
    const values = createContextValues();
    attachPeerCertificate(values, req);
    const peer = verifiedPeerIdentity(values);
    return peer !== undefined && operators.has(peer);
  };
  const send = (res: Response, status: number, headers: Record<string, string>, body: string) => {
    (res as http.ServerResponse).writeHead(status, {
      ...headers,
      "content-length": String(Buffer.byteLength(body)),
    });
    res.end(body);
  };
  return (req, res) => {
    const url = req.url ?? "";
    if (url !== METRICS_PATH && !url.startsWith(`${METRICS_PATH}?`)) return false;
    if (req.method !== "GET" && req.method !== "HEAD") {
      send(res, 405, { allow: "GET, HEAD", "content-type": "text/plain" }, "method not allowed\n");
      return true;
    }
    if (!allowed(req)) {
      send(
        res,
        401,
        { "content-type": "text/plain", "www-authenticate": 'ApiKey header="X-API-Key"' },
        "metrics need an admin API key in X-API-Key\n",
      );
      return true;
    }
    options.metrics.metrics().then(
      (text) =>
        send(
          res,
          200,
          { "content-type": options.metrics.contentType },
          req.method === "HEAD" ? "" : text,
        ),
      () => send(res, 500, { "content-type": "text/plain" }, "metrics collection failed\n"),
    );
    return true;
  };
}
