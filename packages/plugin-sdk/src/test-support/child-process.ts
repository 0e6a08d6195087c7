// Starts node scripts for the SDK's process tests and follows their stdout,
// one JSON object per line.
import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";

export interface NodeProcess {
  readonly child: ChildProcess;
  /** Parsed stdout lines so far. */
  readonly events: Array<Record<string, unknown>>;
  readonly stderr: string[];
  /** Resolves with the exit code (null when killed by a signal). */
  readonly exited: Promise<number | null>;
  /** Resolves with the first event named `name` (past or future); rejects when the process exits first or after the deadline. */
  event(name: string, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** SIGKILL unless it already exited. */
  kill(): void;
}

/**
 * Runs `node <script>` with exactly `env` added to a minimal environment (the
 * test's own HOST_URL, PORT or CPG_LAUNCH_SECRET never leak in). stdin is
 * /dev/null unless `stdin: "pipe"` (then `child.stdin` is writable).
 */
export function startNode(
  script: string,
  env: Record<string, string>,
  options: { stdin?: "ignore" | "pipe" } = {},
): NodeProcess {
  const child = spawn(process.execPath, [script], {
    env: { PATH: process.env.PATH ?? "", ...env },
    stdio: [options.stdin ?? "ignore", "pipe", "pipe"],
  });
  const events: Array<Record<string, unknown>> = [];
  const stderr: string[] = [];
  const wakers = new Set<() => void>();
  const wake = () => {
    for (const w of [...wakers]) w();
  };
  createInterface({ input: child.stdout! }).on("line", (line) => {
    events.push(JSON.parse(line) as Record<string, unknown>);
    wake();
  });
  createInterface({ input: child.stderr! }).on("line", (line) => stderr.push(line));
  let exitCode: number | null | undefined;
  const exited = new Promise<number | null>((resolve) =>
    child.once("exit", (code) => {
      exitCode = code;
      resolve(code);
      wake();
    }),
  );
  return {
    child,
    events,
    stderr,
    exited,
    event(name, timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = events.find((e) => e.event === name);
          if (found) {
            done();
            resolve(found);
          } else if (exitCode !== undefined) {
            done();
            reject(
              new Error(`exited (${exitCode}) before "${name}"; stderr:\n${stderr.join("\n")}`),
            );
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`no "${name}" within ${timeoutMs} ms; stderr:\n${stderr.join("\n")}`));
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          wakers.delete(check);
        };
        wakers.add(check);
        check();
      });
    },
    kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    },
  };
}
