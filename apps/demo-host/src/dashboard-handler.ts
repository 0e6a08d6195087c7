import { readFile } from "node:fs/promises";
import type * as http from "node:http";
import type * as http2 from "node:http2";
import { join } from "node:path";

type Request = http.IncomingMessage | http2.Http2ServerRequest;
type Response = http.ServerResponse | http2.Http2ServerResponse;

const types: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".map": "application/json",
};

/**
 * Serves the dashboard from `dir` (the built `dist/dashboard`) at
 * `/dashboard/`, with the read-only API key the page uses injected into its
 * HTML. `/` redirects there. Answers false for other paths.
 */
export function createDashboardHandler(dir: string, html: string, viewerKey: string) {
  const page = html.replace("__CPG_VIEWER_KEY__", viewerKey);
  return async (req: Request, res: Response): Promise<boolean> => {
    const path = (req.url ?? "/").split("?")[0]!;
    if (path === "/" || path === "/dashboard") {
      (res as http.ServerResponse).writeHead(302, { location: "/dashboard/" });
      res.end();
      return true;
    }
    if (!path.startsWith("/dashboard/")) return false;
    const name = path.slice("/dashboard/".length) || "index.html";
    if (name === "index.html") {
      (res as http.ServerResponse).writeHead(200, {
        "content-type": types[".html"]!,
        "cache-control": "no-store",
      });
      res.end(page);
      return true;
    }
    if (!/^[a-z0-9-]+\.(js|map)$/.test(name)) {
      (res as http.ServerResponse).writeHead(404, { "content-type": "text/plain" });
      res.end("not found\n");
      return true;
    }
    try {
      const body = await readFile(join(dir, name));
      (res as http.ServerResponse).writeHead(200, {
        "content-type": types[name.slice(name.lastIndexOf("."))] ?? "application/octet-stream",
      });
      res.end(body);
    } catch {
      (res as http.ServerResponse).writeHead(404, { "content-type": "text/plain" });
      res.end("not found\n");
    }
    return true;
  };
}
