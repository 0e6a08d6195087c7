import { startProcess, type TestProcess } from "@cpg/test-utils";

export type { TestProcess } from "@cpg/test-utils";
export { startProcess } from "@cpg/test-utils";

/**
 * Starts `node <script> ...args` with extra environment (and the plaintext
 * warning silenced), collecting stdout lines.
 */
export function startNode(
  script: string,
  args: readonly string[] = [],
  env: Record<string, string> = {},
): TestProcess {
  return startProcess(process.execPath, [script, ...args], {
    CONNECTPLUGIN_DISABLE_TLS_WARNING: "1",
    ...env,
  });
}
