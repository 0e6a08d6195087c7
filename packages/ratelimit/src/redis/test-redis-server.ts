// Test-only (not exported, not built): a throw-away redis-server child process.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { createServer } from "node:net";

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

/** Starts redis-server without persistence; resolves once it accepts connections. */
export async function startRedis(deadlineMs = 10_000): Promise<TestRedis> {
  if (!redisAvailable) {
    throw new Error(
      `${REDIS_SERVER} not found: install it with apt-get install redis-server. CI is set, so the Redis tests fail instead of skipping.`,
    );
  }
  const port = await freePort();
  const child = spawn(
    REDIS_SERVER,
    ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
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
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      await exited(child);
    },
  };
}
