import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Where Debian's `redis-server` package installs the server. */
export const REDIS_SERVER = "/usr/bin/redis-server";

/** Whether Redis tests can run; with `CI` set a missing server is an error, not a skip. */
export const redisAvailable = existsSync(REDIS_SERVER);
export const skipRedisTests = !redisAvailable && !process.env.CI;
if (skipRedisTests) {
  console.warn(
    `Skipping Redis tests: ${REDIS_SERVER} not found (apt-get install redis-server). With CI set they fail instead.`,
  );
}

/** A running redis-server on 127.0.0.1. */
export interface TestRedis {
  readonly port: number;
  readonly url: string;
  /** Kills the server and waits for it to exit. Idempotent. */
  stop(): Promise<void>;
  /**
   * Starts the server again on the same port (after `stop`), with the data it
   * had when started with `persist`, else empty.
   */
  restart(): Promise<void>;
}

/** Options of {@link startRedis}. */
export interface StartRedisOptions {
  /** How long to wait for the server to accept connections. Default: 10 s. */
  readonly deadlineMs?: number;
  /** Keep data across `restart` (append-only file in a temporary directory). Default: false. */
  readonly persist?: boolean;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address();
      probe.close(() =>
        typeof address === "object" && address
          ? resolve(address.port)
          : reject(new Error("no port")),
      );
    });
  });
}

function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once("exit", () => resolve());
  });
}

async function spawnRedis(port: number, args: string[], deadlineMs: number): Promise<ChildProcess> {
  const child = spawn(REDIS_SERVER, ["--port", String(port), "--bind", "127.0.0.1", ...args], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`redis-server did not start within ${deadlineMs} ms:\n${output}`));
    }, deadlineMs);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes("Ready to accept connections")) {
        clearTimeout(timer);
        child.stdout?.off("data", onData);
        child.stdout?.resume();
        resolve();
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.once("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`redis-server exited (${code ?? signal}) before it was ready:\n${output}`));
    });
  });
  child.removeAllListeners("exit");
  return child;
}

/**
 * Starts redis-server on a free port of 127.0.0.1 (without persistence unless
 * `persist`); resolves once it accepts connections.
 */
export async function startRedis(options: StartRedisOptions | number = {}): Promise<TestRedis> {
  const { deadlineMs = 10_000, persist = false } =
    typeof options === "number" ? { deadlineMs: options } : options;
  if (!redisAvailable) {
    throw new Error(
      `${REDIS_SERVER} not found: install it with apt-get install redis-server. CI is set, so the Redis tests fail instead of skipping.`,
    );
  }
  const port = await freePort();
  const dir = persist ? mkdtempSync(join(tmpdir(), "cpg-redis-")) : undefined;
  const args = dir
    ? ["--save", "", "--appendonly", "yes", "--appendfsync", "always", "--dir", dir]
    : ["--save", "", "--appendonly", "no"];
  let child = await spawnRedis(port, args, deadlineMs);
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await exited(child);
  };
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    stop,
    async restart() {
      await stop();
      child = await spawnRedis(port, args, deadlineMs);
    },
  };
}
