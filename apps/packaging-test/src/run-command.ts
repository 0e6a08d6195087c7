import { type ExecFileException, execFile } from "node:child_process";

/** Options of {@link runCommand}. */
export interface RunCommandOptions {
  /** Working directory of the command. */
  readonly cwd: string;
  /** Environment of the command. Default: this process's environment. */
  readonly env?: NodeJS.ProcessEnv;
  /** Deadline; the command is killed with SIGKILL when it passes. */
  readonly timeoutMs: number;
}

/** What a command printed. */
export interface CommandOutput {
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs a command to completion without a shell. Rejects when it cannot start, exits with a non-zero
 * code or misses its deadline, with an error whose message holds everything it printed.
 */
export function runCommand(
  command: string,
  args: readonly string[],
  options: RunCommandOptions,
): Promise<CommandOutput> {
  return new Promise((resolve, reject) => {
    execFile(
      command,
      args,
      {
        cwd: options.cwd,
        env: options.env ?? process.env,
        timeout: options.timeoutMs,
        killSignal: "SIGKILL",
        maxBuffer: 64 * 1024 * 1024,
        encoding: "utf8",
      },
      (error, stdout, stderr) => {
        if (!error) {
          resolve({ stdout, stderr });
          return;
        }
        const what = `\`${[command, ...args].join(" ")}\` in ${options.cwd}`;
        reject(
          new Error(
            `${what} ${failure(command, error, options.timeoutMs)}\n${output(stdout, stderr)}`,
            {
              cause: error,
            },
          ),
        );
      },
    );
  });
}

function failure(command: string, error: ExecFileException, timeoutMs: number): string {
  if (error.killed) return `did not finish within ${timeoutMs} ms`;
  if (error.code === "ENOENT") return `could not start: ${command} is not on PATH`;
  if (typeof error.code === "number") return `exited with code ${error.code}`;
  if (error.signal) return `was killed by ${error.signal}`;
  return `failed: ${error.message}`;
}

function output(stdout: string, stderr: string): string {
  return `--- stdout ---\n${stdout.trimEnd()}\n--- stderr ---\n${stderr.trimEnd()}`;
}
