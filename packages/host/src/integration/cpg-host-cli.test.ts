import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { adminV1, HandshakeService } from "@cpg/protocol";
import { createTestPki, type TestPki } from "@cpg/test-utils";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startNode, type TestProcess } from "../test-support/child-process.js";
import { handshakeRequest } from "../test-support/test-host.js";

const cli = fileURLToPath(new URL("../../dist/cli/cpg-host.js", import.meta.url));
const plugin = fileURLToPath(new URL("./fixtures/echo-plugin.mjs", import.meta.url));

const started: TestProcess[] = [];
function start(script: string, args: string[] = [], env: Record<string, string> = {}) {
  const p = startNode(script, args, env);
  started.push(p);
  return p;
}
afterEach(() => {
  for (const p of started.splice(0)) p.kill();
});

const listeningUrl = async (p: TestProcess) =>
  (await p.waitForLine((l) => l.startsWith("listening on "))).slice("listening on ".length);
const event = async (p: TestProcess, name: string) =>
  JSON.parse(await p.waitForLine((l) => l.includes(`"event":"${name}"`)));

describe("cpg-host", () => {
  it("prints help and exits 0", async () => {
    const p = start(cli, ["--help"]);
    expect(await p.exited).toBe(0);
    expect(p.lines[0]).toBe("Usage: cpg-host [options]");
  });

  it("explains a bad flag and exits 2", async () => {
    const p = start(cli, ["--port", "http"]);
    expect(await p.exited).toBe(2);
    expect(p.stderr.join("\n")).toContain("--port must be an integer from 0 to 65535, got http");
  });

  it("explains a shared store it cannot reach and exits 2", async () => {
    const p = start(cli, ["--port", "0", "--store", "redis://127.0.0.1:1"]);
    expect(await p.exited).toBe(2);
    expect(p.stderr.join("\n")).toContain(
      "cpg-host: cannot reach the shared state store at redis://127.0.0.1:1: connect ECONNREFUSED 127.0.0.1:1",
    );
  });

  it("refuses plaintext under the production profile", async () => {
    const p = start(cli, ["--port", "0", "--profile", "production"]);
    expect(await p.exited).toBe(2);
    expect(p.stderr.join("\n")).toContain('the "production" profile refuses plaintext');
  });

  it("starts, serves a handshake and exits 0 on SIGTERM", async () => {
    const p = start(cli, ["--port", "0"]);
    const url = await listeningUrl(p);
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const transport = createConnectTransport({
      baseUrl: url,
      httpVersion: "1.1",
      useBinaryFormat: true,
    });
    const res = await createClient(HandshakeService, transport).handshake(handshakeRequest());
    expect(res.runtimeId).toMatch(/^test-plugin-/);
    p.child.kill("SIGTERM");
    expect(await p.exited).toBe(0);
    expect(p.stderr.some((l) => l.includes('"msg":"host closed"'))).toBe(true);
  });

  it("reads a config file", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cpg-config-"));
    try {
      const config = join(dir, "host.json");
      writeFileSync(config, JSON.stringify({ port: 0, runtimeTokenTtl: "1h", logLevel: "debug" }));
      const p = start(cli, ["--config", config]);
      const url = await listeningUrl(p);
      const transport = createConnectTransport({ baseUrl: url, httpVersion: "1.1" });
      const res = await createClient(HandshakeService, transport).handshake(handshakeRequest());
      const ttl = Number(res.runtimeTokenExpiresUnixMs) - Date.now();
      expect(ttl).toBeGreaterThan(59 * 60 * 1000);
      expect(ttl).toBeLessThanOrEqual(60 * 60 * 1000);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("a whole platform from one config file", () => {
  it("starts the managed plugins it declares, and the admin API lists them", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cpg-platform-"));
    try {
      const config = join(dir, "host.json");
      const fixture = fileURLToPath(new URL("./fixtures/platform-plugin.mjs", import.meta.url));
      writeFileSync(
        config,
        JSON.stringify({
          port: 0,
          plugins: [
            {
              name: "cache",
              command: process.execPath,
              args: [fixture],
              env: { PLUGIN_SELF_ID: "cache", PLUGIN_TYPE: "cache", PLUGIN_REQUIRES: "kv" },
              provides: [{ type: "cache", version: "1.0.0" }],
              requires: [{ type: "kv" }],
            },
            {
              name: "kv",
              command: process.execPath,
              args: [fixture],
              env: { PLUGIN_SELF_ID: "kv", PLUGIN_TYPE: "kv" },
              provides: [{ type: "kv", version: "1.0.0" }],
            },
          ],
        }),
      );
      const p = start(cli, ["--config", config], { CPG_ADMIN_API_KEY: "test-operator-key-123" });
      const url = await listeningUrl(p);
      const admin = createClient(
        adminV1.AdminService,
        createConnectTransport({
          baseUrl: url,
          httpVersion: "1.1",
          interceptors: [
            (next) => (req) => {
              req.header.set("x-api-key", "test-operator-key-123");
              return next(req);
            },
          ],
        }),
      );
      await expect
        .poll(async () => (await admin.listPlugins({})).plugins.map((x) => [x.name, x.state]), {
          timeout: 20_000,
        })
        .toEqual([
          ["kv", "running"],
          ["cache", "running"],
        ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("an SDK plugin joins a host started with cpg-host", () => {
  let pki: TestPki;
  let dir: string;
  const files: Record<string, string> = {};
  beforeAll(async () => {
    pki = await createTestPki();
    dir = mkdtempSync(join(tmpdir(), "cpg-pki-"));
    const write = (name: string, pem: string) => {
      files[name] = join(dir, name);
      writeFileSync(files[name], pem);
    };
    write("ca.pem", pki.ca.cert);
    write("server.pem", pki.server.cert);
    write("server-key.pem", pki.server.key);
    write("client.pem", pki.clients.spiffe.cert);
    write("client-key.pem", pki.clients.spiffe.key);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const mtlsArgs = () => [
    "--tls-cert",
    files["server.pem"]!,
    "--tls-key",
    files["server-key.pem"]!,
    "--tls-ca",
    files["ca.pem"]!,
    "--client-auth",
    "require",
  ];
  const mtlsEnv = () => ({
    CPG_TEST_CA: files["ca.pem"]!,
    CPG_TEST_CERT: files["client.pem"]!,
    CPG_TEST_KEY: files["client-key.pem"]!,
  });

  it.each([
    ["plaintext", false],
    ["mTLS", true],
  ])("unmanaged (HOST_URL), over %s", async (_, mtls) => {
    const host = start(cli, ["--port", "0", ...(mtls ? mtlsArgs() : [])]);
    const url = await listeningUrl(host);
    const p = start(plugin, [], { HOST_URL: url, PORT: "0", ...(mtls ? mtlsEnv() : {}) });
    const identity = await event(p, "identity");
    expect(identity.runtimeId).toMatch(/^echo-plugin-[0-9a-f]{16}$/);
    expect(identity.hostUrl).toBe(url);
    await event(p, "reported");
  });

  it.each([
    ["plaintext", false],
    ["mTLS", true],
  ])("managed (SetRuntimeIdentity), over %s", async (_, mtls) => {
    const p = start(plugin, [], { PORT: "0", ...(mtls ? mtlsEnv() : {}) });
    const { url: pluginUrl } = await event(p, "listening");
    const host = start(cli, ["--port", "0", "--plugin", pluginUrl, ...(mtls ? mtlsArgs() : [])]);
    const url = await listeningUrl(host);
    const identity = await event(p, "identity");
    expect(identity.hostUrl).toBe(url);
    await event(p, "reported");
    await expect
      .poll(() => host.stderr.some((l) => l.includes('"msg":"managed plugins started"')), {
        timeout: 10_000,
      })
      .toBe(true);
  });
});
