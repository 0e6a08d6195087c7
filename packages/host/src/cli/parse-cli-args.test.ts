import { describe, expect, it } from "vitest";
import { isHostError } from "../host-error.js";
import { parseCliArgs } from "./parse-cli-args.js";

const run = (argv: string[], env: Record<string, string> = {}) => {
  const command = parseCliArgs(argv, env);
  if (command.kind !== "run") throw new Error(`expected run, got ${command.kind}`);
  return command.config;
};

describe("parseCliArgs --store", () => {
  it("takes the store from the flag, else from CPG_STORE_URL", () => {
    expect(run(["--store", "redis://redis:6379"]).store).toBe("redis://redis:6379");
    expect(run([], { CPG_STORE_URL: "redis://:pw@redis:6379" }).store).toBe(
      "redis://:pw@redis:6379",
    );
    expect(run(["--store", "memory"], { CPG_STORE_URL: "redis://:pw@redis:6379" }).store).toBe(
      "memory",
    );
    expect(run([]).store).toBeUndefined();
  });

  it("needs a value", () => {
    try {
      parseCliArgs(["--store"], {});
      expect.unreachable();
    } catch (error) {
      expect(isHostError(error) && error.code).toBe("invalid_config");
      expect((error as Error).message).toMatch(/--store/);
    }
  });
});
