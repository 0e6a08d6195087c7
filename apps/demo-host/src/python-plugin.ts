import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { createInterface } from "node:readline";
import type { Logger } from "@cpg/plugin-sdk";

const PYTHON = "/usr/bin/python3";

/**
 * Whether Debian's python3-grpcio and python3-grpc-tools are installed.
 */
export function pythonGrpcAvailable(): boolean {
  if (!existsSync(PYTHON)) return false;
  return spawnSync(PYTHON, ["-c", "import grpc, grpc_tools"], { stdio: "ignore" }).status === 0;
}

/**
 * Starts the Python plugin, which joins the host by itself (unmanaged model,
 * `HOST_URL`). It exits when its stdin closes, so it ends with the demo.
 */
export function startPythonPlugin(
  script: string,
  protoDir: string,
  hostUrl: string,
  logger: Logger,
): ChildProcess {
  const child = spawn(PYTHON, [script], {
    env: { ...process.env, HOST_URL: hostUrl, PROTO_DIR: protoDir },
    stdio: ["pipe", "pipe", "pipe"],
  });
  for (const [stream, source] of [
    ["stdout", child.stdout],
    ["stderr", child.stderr],
  ] as const) {
    createInterface({ input: source! }).on("line", (line) =>
      logger.info("python plugin output", { plugin: "py-echo", stream, line }),
    );
  }
  return child;
}
