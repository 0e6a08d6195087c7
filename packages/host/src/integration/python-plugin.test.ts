import { execFile, spawnSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { EchoService } from "@cpg/examples-proto";
import { createPlugin, type Plugin, provide, silentLogger } from "@cpg/plugin-sdk";
import { CALLER_ID_HEADER, HealthState } from "@cpg/protocol";
import { waitFor } from "@cpg/test-utils";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Host } from "../host.js";
import { startProcess, type TestProcess } from "../test-support/child-process.js";
import { testHost } from "../test-support/test-host.js";

// Debian's interpreter, where python3-grpcio and python3-grpc-tools install
// (not whatever python3 comes first on PATH).
const PYTHON = "/usr/bin/python3";
const here = dirname(fileURLToPath(import.meta.url));
const protoRoot = resolve(here, "../../../../proto");
const pluginScript = join(here, "fixtures/python/echo_plugin.py");
const PROTOS = [
  "plugin/v1/handshake.proto",
  "plugin/v1/registry.proto",
  "plugin/v1/lifecycle.proto",
  "cpg/examples/v1/echo.proto",
];

/** Why Python with grpcio cannot run here, or undefined when it can. */
function pythonGrpcMissing(): string | undefined {
  const probe = spawnSync(PYTHON, ["-c", "import grpc, grpc_tools"], { encoding: "utf8" });
  if (probe.error === undefined && probe.status === 0) return undefined;
  const why = probe.error?.message ?? probe.stderr.trim().split("\n").pop();
  return `${PYTHON} cannot import grpc and grpc_tools (${why}): install the Debian packages python3-grpcio and python3-grpc-tools`;
}

const missing = pythonGrpcMissing();
// On CI a missing interpreter is a broken image, not a reason to skip.
const skip = missing !== undefined && !process.env.CI;

/** One JSON line of the Python plugin. */
type PythonEvent = { event: string } & Record<string, unknown>;

const eventLine = (event: string) => (line: string) => {
  try {
    return (JSON.parse(line) as PythonEvent).event === event;
  } catch {
    return false;
  }
};

describe.skipIf(skip)(
  skip ? `a Python grpcio plugin (skipped: ${missing})` : "a Python grpcio plugin",
  () => {
    const seenCallers: string[] = [];
    let stubs: string;
    let host: Host;
    let hostUrl: string;
    let tsEcho: Plugin;
    let caller: Plugin;
    let python: TestProcess | undefined;
    let pythonId: string;
    let pythonPort: number;

    beforeAll(async () => {
      if (missing !== undefined) throw new Error(missing);
      // The Python side's stubs come from the repository's protos, generated now.
      stubs = await mkdtemp(join(tmpdir(), "cpg-python-stubs-"));
      await promisify(execFile)(PYTHON, [
        "-m",
        "grpc_tools.protoc",
        `-I${protoRoot}`,
        `--python_out=${stubs}`,
        `--grpc_python_out=${stubs}`,
        ...PROTOS,
      ]);

      host = testHost();
      ({ url: hostUrl } = await host.listen());
      tsEcho = createPlugin({
        selfId: "ts-echo",
        version: "1.0.0",
        services: [
          provide(EchoService, {
            echo(req, ctx) {
              const callerId = ctx.requestHeader.get(CALLER_ID_HEADER) ?? "";
              seenCallers.push(callerId);
              return { message: `ts: ${req.message}`, callerId };
            },
            async *echoServerStream(req) {
              for (let i = 0; i < req.count; i++) yield { message: req.message, index: i };
            },
          }),
        ],
        logger: silentLogger,
      });
      await tsEcho.listen();
      await tsEcho.join(hostUrl);
      // grpcio answers only gRPC: the router forwards bytes and never translates protocols.
      caller = createPlugin({
        selfId: "ts-caller",
        version: "1.0.0",
        hostProtocol: "grpc",
        logger: silentLogger,
      });
      await caller.join(hostUrl);
      await waitFor(() => host.registry.providers("echo").length === 1, {
        description: "ts-echo registered",
      });

      python = startProcess(
        PYTHON,
        [
          pluginScript,
          "--stubs",
          stubs,
          "--host",
          hostUrl,
          "--call-echo",
          tsEcho.credentials!.runtimeId,
        ],
        { PYTHONDONTWRITEBYTECODE: "1" },
        { stdin: "pipe" },
      );
      const registered = JSON.parse(
        await python.waitForLine(eventLine("registered")),
      ) as PythonEvent;
      pythonId = registered.runtimeId as string;
      pythonPort = registered.port as number;
    });

    afterAll(async () => {
      try {
        if (python) {
          // Stopped already by the last test, unless a test failed before it.
          const timer = setTimeout(() => python?.kill(), 5000);
          python.child.stdin?.end();
          await python.exited;
          clearTimeout(timer);
        }
      } finally {
        await caller?.close(100);
        await tsEcho?.close(100);
        await host?.close();
        if (stubs) await rm(stubs, { recursive: true, force: true });
      }
    });

    it("joins over h2c gRPC, reports healthy and registers py-echo with its grpcio address", () => {
      expect(pythonId).toMatch(/^py-echo-[0-9a-f]+$/);
      expect(host.identities.get(pythonId)?.selfId).toBe("py-echo");
      expect(host.health.get(pythonId)?.state).toBe(HealthState.HEALTHY);
      expect(host.registry.providers("py-echo")).toEqual([
        expect.objectContaining({
          runtimeId: pythonId,
          version: "1.0.0",
          endpointPath: "/cpg.examples.v1.EchoService/",
          baseUrl: `http://127.0.0.1:${pythonPort}`,
          http2: true,
        }),
      ]);
    });

    it("answers a TypeScript plugin through the router and sees the caller's runtime id", async () => {
      const client = caller.client(EchoService, { type: "py-echo" });
      const res = await client.echo({ message: "hi python" });
      expect(res.message).toBe("hi python");
      expect(res.callerId).toBe(caller.credentials!.runtimeId);
    });

    it("streams between a TypeScript plugin and the Python plugin in every RPC kind", async () => {
      const client = caller.client(EchoService, { type: "py-echo" });
      const streamed: Array<[string, number]> = [];
      for await (const m of client.echoServerStream({ message: "s", count: 100 }))
        streamed.push([m.message, m.index]);
      expect(streamed).toEqual(Array.from({ length: 100 }, (_, i) => ["s", i]));
      async function* upload() {
        for (let i = 0; i < 100; i++) yield { message: `c${i}` };
      }
      expect(await client.echoClientStream(upload())).toMatchObject({ count: 100, last: "c99" });
      async function* talk() {
        for (let i = 0; i < 100; i++) yield { message: `b${i}` };
      }
      const answers: string[] = [];
      for await (const m of client.echoBidiStream(talk())) answers.push(m.message);
      expect(answers).toEqual(Array.from({ length: 100 }, (_, i) => `b${i}`));
    });

    it("calls a TypeScript plugin through the router from Python, as its own runtime", async () => {
      const tsId = tsEcho.credentials!.runtimeId;
      // The plugin prints "call-failed" with grpcio's status code when the call fails.
      const line = await python!.waitForLine(
        (l) => eventLine("called-echo")(l) || eventLine("call-failed")(l),
      );
      expect(JSON.parse(line)).toEqual({
        event: "called-echo",
        expectedProvider: tsId,
        providerId: tsId,
        endpointUrl: `/services/echo/${tsId}`,
        message: "ts: hello from python",
        callerId: pythonId,
        streamed: [
          ["py", 0],
          ["py", 1],
          ["py", 2],
        ],
      });
      expect(seenCallers).toEqual([pythonId]);
    });

    it("unregisters and exits 0 when its stdin closes", async () => {
      const timer = setTimeout(() => python?.kill(), 5000);
      python!.child.stdin!.end();
      const code = await python!.exited;
      clearTimeout(timer);
      expect(code).toBe(0);
      expect(python!.lines.filter(eventLine("stopped"))).toHaveLength(1);
      expect(host.registry.providers("py-echo")).toEqual([]);
    });
  },
);
