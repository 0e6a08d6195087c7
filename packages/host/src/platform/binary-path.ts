import { constants } from "node:fs";
import { access, realpath, stat } from "node:fs/promises";
import { isAbsolute, relative, sep } from "node:path";
import { HostError } from "../host-error.js";

/**
 * Checks a plugin executable before anything runs: the path must be
 * absolute, exist, be a regular executable file, and (when `allowedDirs` is
 * given) resolve, after following links, inside one of those directories.
 * Returns the resolved path; throws `HostError` (`invalid_config`).
 */
export async function validateBinaryPath(
  command: string,
  allowedDirs: readonly string[] | undefined,
): Promise<string> {
  if (!isAbsolute(command)) {
    throw new HostError(
      "invalid_config",
      `plugin binary path must be absolute, got ${JSON.stringify(command)}`,
    );
  }
  let resolved: string;
  try {
    resolved = await realpath(command);
  } catch {
    throw new HostError("invalid_config", `plugin binary ${command} does not exist`);
  }
  const info = await stat(resolved);
  if (!info.isFile()) {
    throw new HostError("invalid_config", `plugin binary ${command} is not a file`);
  }
  try {
    await access(resolved, constants.X_OK);
  } catch {
    throw new HostError("invalid_config", `plugin binary ${command} is not executable`);
  }
  if (allowedDirs !== undefined) {
    const inside = await Promise.all(
      allowedDirs.map(async (dir) => {
        const base = await realpath(dir).catch(() => undefined);
        if (base === undefined) return false;
        const rel = relative(base, resolved);
        return rel !== "" && !rel.startsWith(`..${sep}`) && rel !== ".." && !isAbsolute(rel);
      }),
    );
    if (!inside.some(Boolean)) {
      throw new HostError(
        "invalid_config",
        `plugin binary ${command} is outside the allowed directories (${allowedDirs.join(", ")})`,
      );
    }
  }
  return resolved;
}
