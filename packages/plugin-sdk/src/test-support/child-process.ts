// Starts node scripts for the SDK's process tests and follows their stdout,
// one JSON object per line.
import { startProcess, type TestProcess } from "@cpg/test-utils";

export interface NodeProcess extends TestProcess {
  /** Parsed stdout lines so far. */
  readonly events: Array<Record<string, unknown>>;
  /** Resolves with the first event named `name` (past or future); rejects when the process exits first or after the deadline. */
  event(name: string, timeoutMs?: number): Promise<Record<string, unknown>>;
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
  const p = startProcess(process.execPath, [script], env, {
    inheritEnv: false,
    ...(options.stdin ? { stdin: options.stdin } : {}),
  });
  const named = (line: string, name: string) => {
    try {
      return (JSON.parse(line) as { event?: unknown }).event === name;
    } catch {
      return false;
    }
  };
  return {
    ...p,
    get events() {
      return p.lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    },
    async event(name, timeoutMs) {
      const line = await p.waitForLine((l) => named(l, name), timeoutMs);
      return JSON.parse(line) as Record<string, unknown>;
    },
  };
}
