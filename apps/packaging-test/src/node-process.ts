import { type ChildProcess, spawn } from "node:child_process";
import { EventEmitter } from "node:events";

/** How a process ended: an exit code, or the signal that killed it. */
export interface ProcessExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** What a process printed so far. */
export interface ProcessOutput {
  readonly stdout: string;
  readonly stderr: string;
}

/** A Node.js program running as a child process, with its output captured. */
export interface NodeProcess {
  readonly name: string;
  readonly child: ChildProcess;
  /** Output printed so far. */
  output(): ProcessOutput;
  /** The name, exit status and output, for error messages. */
  describe(): string;
  /**
   * Resolves with the first non-undefined value `find` returns for the output so far, checked on
   * every chunk of output. Rejects when the process exits first or the deadline passes.
   */
  waitFor<T>(
    description: string,
    find: (output: ProcessOutput) => T | undefined,
    timeoutMs: number,
  ): Promise<T>;
  /** Resolves when the process has exited; rejects (and kills it) when the deadline passes. */
  waitForExit(timeoutMs: number): Promise<ProcessExit>;
  /**
   * Sends SIGTERM and waits up to `timeoutMs` for the process to exit, then kills it with SIGKILL.
   * Resolves with how it ended; at once if it already had.
   */
  stop(timeoutMs: number): Promise<ProcessExit>;
}

/** Starts `node <script> ...args` with the same Node.js binary that runs the tests. */
export function startNodeProcess(
  name: string,
  script: string,
  args: readonly string[],
  options: { cwd: string; env: NodeJS.ProcessEnv },
): NodeProcess {
  const child = spawn(process.execPath, [script, ...args], {
    cwd: options.cwd,
    env: options.env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const events = new EventEmitter();
  let stdout = "";
  let stderr = "";
  let exit: ProcessExit | undefined;
  let spawnError: Error | undefined;
  child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
    stdout += chunk;
    events.emit("change");
  });
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
    stderr += chunk;
    events.emit("change");
  });
  child.once("error", (error) => {
    spawnError = error;
    exit ??= { code: null, signal: null };
    events.emit("change");
  });
  // "close" fires after the output streams have ended, so the output is complete by then.
  child.once("close", (code, signal) => {
    exit = { code, signal };
    events.emit("change");
  });

  const output = (): ProcessOutput => ({ stdout, stderr });
  const describe = (): string => {
    const status = spawnError
      ? `could not start: ${spawnError.message}`
      : exit
        ? `exited with code ${exit.code} and signal ${exit.signal}`
        : "still running";
    return (
      `${name} (node ${script} ${args.join(" ")}, in ${options.cwd}) ${status}\n` +
      `--- stdout ---\n${stdout.trimEnd()}\n--- stderr ---\n${stderr.trimEnd()}`
    );
  };

  function waitFor<T>(
    description: string,
    find: (output: ProcessOutput) => T | undefined,
    timeoutMs: number,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const done = (settle: () => void) => {
        clearTimeout(timer);
        events.off("change", check);
        settle();
      };
      const check = () => {
        const found = find(output());
        if (found !== undefined) done(() => resolve(found));
        else if (exit) done(() => reject(new Error(`waiting for ${description}: ${describe()}`)));
      };
      const timer = setTimeout(
        () =>
          done(() => reject(new Error(`no ${description} within ${timeoutMs} ms: ${describe()}`))),
        timeoutMs,
      );
      events.on("change", check);
      check();
    });
  }

  async function waitForExit(timeoutMs: number): Promise<ProcessExit> {
    try {
      return await waitFor("exit", () => exit, timeoutMs);
    } catch (error) {
      if (exit) return exit;
      child.kill("SIGKILL");
      throw error;
    }
  }

  async function stop(timeoutMs: number): Promise<ProcessExit> {
    if (exit) return exit;
    child.kill("SIGTERM");
    try {
      return await waitFor("exit after SIGTERM", () => exit, timeoutMs);
    } catch {
      if (exit) return exit;
      child.kill("SIGKILL");
      return waitFor("exit after SIGKILL", () => exit, 5_000);
    }
  }

  return { name, child, output, describe, waitFor, waitForExit, stop };
}
