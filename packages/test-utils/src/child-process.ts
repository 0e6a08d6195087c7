// Child processes for tests: stdout lines that can be awaited with a
// deadline, stderr kept for diagnostics.
import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";

/**
 * A child process whose stdout lines can be awaited.
 */
export interface TestProcess {
  readonly child: ChildProcess;
  /** Every stderr line so far, for diagnostics. */
  readonly stderr: string[];
  /** Every stdout line so far. */
  readonly lines: string[];
  /** Resolves with the first stdout line (past or future) that matches, or rejects after the deadline. */
  waitForLine(match: (line: string) => boolean, timeoutMs?: number): Promise<string>;
  /** Resolves with the exit code. */
  readonly exited: Promise<number | null>;
  /** Sends SIGKILL unless it already exited. */
  kill(): void;
}

/**
 * Options of {@link startProcess}.
 */
export interface StartProcessOptions {
  /** `"pipe"` to write to the child's stdin through `child.stdin`. Default: `"ignore"`. */
  readonly stdin?: "ignore" | "pipe";
  /**
   * Start from this process's environment (`true`) or from `PATH` alone, so
   * that variables such as `HOST_URL` or `PORT` of the test never leak in.
   * Default: `true`.
   */
  readonly inheritEnv?: boolean;
}

/**
 * Starts `command ...args` with extra environment (added to this process's),
 * collecting stdout lines (stderr goes to an array for diagnostics).
 */
export function startProcess(
  command: string,
  args: readonly string[] = [],
  env: Record<string, string> = {},
  options: StartProcessOptions = {},
): TestProcess {
  const child = spawn(command, [...args], {
    env: {
      ...(options.inheritEnv === false ? { PATH: process.env.PATH ?? "" } : process.env),
      ...env,
    },
    stdio: [options.stdin ?? "ignore", "pipe", "pipe"],
  });
  // A child that exits before reading its stdin makes writes fail with EPIPE: not a test failure.
  child.stdin?.on("error", () => {});
  const lines: string[] = [];
  const stderr: string[] = [];
  const waiters = new Set<() => void>();
  createInterface({ input: child.stdout! }).on("line", (line) => {
    lines.push(line);
    for (const w of [...waiters]) w();
  });
  createInterface({ input: child.stderr! }).on("line", (line) => stderr.push(line));
  const exited = new Promise<number | null>((resolve) =>
    child.once("exit", (code) => resolve(code)),
  );
  let exitCode: number | null | undefined;
  void exited.then((code) => {
    exitCode = code;
    for (const w of [...waiters]) w();
  });
  return {
    child,
    lines,
    stderr,
    exited,
    waitForLine(match, timeoutMs = 15_000) {
      return new Promise<string>((resolve, reject) => {
        const check = () => {
          const line = lines.find(match);
          if (line !== undefined) {
            finish();
            resolve(line);
          } else if (exitCode !== undefined) {
            finish();
            reject(new Error(`process exited (${exitCode}) first; stderr:\n${stderr.join("\n")}`));
          }
        };
        const timer = setTimeout(() => {
          finish();
          reject(
            new Error(
              `no matching line within ${timeoutMs} ms; stdout:\n${lines.join("\n")}\nstderr:\n${stderr.join("\n")}`,
            ),
          );
        }, timeoutMs);
        const finish = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    },
  };
}
