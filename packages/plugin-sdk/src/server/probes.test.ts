import * as http from "node:http";
import { HealthState } from "@cpg/protocol";
import { listenOnFreePort, type TestServer } from "@cpg/test-utils";
import { afterEach, describe, expect, it } from "vitest";
import { createServingStatusRegistry } from "../health/serving-status.js";
import { silentLogger } from "../logging/logger.js";
import { createPlugin, type Plugin } from "../plugin.js";
import { handleProbe } from "./probes.js";

const plugins: Plugin[] = [];
const servers: TestServer[] = [];
afterEach(async () => {
  await Promise.all(plugins.splice(0).map((p) => p.close(100)));
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function listeningPlugin() {
  const plugin = createPlugin({ selfId: "kv-store", version: "1.0.0", logger: silentLogger });
  plugins.push(plugin);
  const { url } = await plugin.listen();
  return { plugin, url };
}

const probe = async (url: string, init?: RequestInit) => {
  const res = await fetch(url, init);
  return [res.status, res.headers.get("content-type"), await res.text()];
};

describe("plain HTTP probes of a plugin", () => {
  it("/healthz answers 200 ok", async () => {
    const { url } = await listeningPlugin();
    expect(await probe(`${url}/healthz`)).toEqual([200, "text/plain; charset=utf-8", "ok\n"]);
  });

  it("/readyz answers 200 ready while serving and 503 after setHealth(UNHEALTHY)", async () => {
    const { plugin, url } = await listeningPlugin();
    expect(await probe(`${url}/readyz`)).toEqual([200, "text/plain; charset=utf-8", "ready\n"]);
    await plugin.setHealth({ state: HealthState.UNHEALTHY, reason: "disk full" });
    expect(await probe(`${url}/readyz`)).toEqual([503, "text/plain; charset=utf-8", "not ready\n"]);
    // Liveness is not readiness.
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    await plugin.setHealth({ state: HealthState.DEGRADED });
    expect((await fetch(`${url}/readyz`)).status).toBe(200);
  });

  it("ignores the query string and answers HEAD without a body", async () => {
    const { url } = await listeningPlugin();
    expect(await probe(`${url}/readyz?verbose=1`, { method: "HEAD" })).toEqual([
      200,
      "text/plain; charset=utf-8",
      "",
    ]);
  });

  it("answers other methods with 405", async () => {
    const { url } = await listeningPlugin();
    const res = await fetch(`${url}/healthz`, { method: "POST" });
    expect([res.status, res.headers.get("allow"), await res.text()]).toEqual([
      405,
      "GET, HEAD",
      "method not allowed\n",
    ]);
  });
});

describe("handleProbe", () => {
  it("leaves other paths to the caller", async () => {
    const serving = createServingStatusRegistry();
    const server = await listenOnFreePort(
      http.createServer((req, res) => {
        if (handleProbe(req, res, serving)) return;
        res.writeHead(404).end("mine\n");
      }),
    );
    servers.push(server);
    expect([(await fetch(`${server.url}/healthzz`)).status]).toEqual([404]);
    // The server starts not serving until told otherwise.
    expect((await fetch(`${server.url}/readyz`)).status).toBe(503);
    serving.set("", "serving");
    expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
  });
});
