import { describe, expect, it } from "vitest";
import { HostError } from "../host-error.js";
import { resolveHostConfig } from "./host-config.js";

const refusal = (fn: () => unknown): HostError => {
  try {
    fn();
  } catch (error) {
    if (error instanceof HostError) return error;
    throw error;
  }
  throw new Error("expected a HostError");
};

describe("resolveHostConfig: plugins[].portHandoff", () => {
  it("passes portHandoff to the process strategy, and leaves it unset by default", () => {
    const { plugins } = resolveHostConfig({
      plugins: [
        { name: "go-kv", command: "/opt/plugins/kv", portHandoff: "env" },
        { name: "sdk-kv", command: "/opt/plugins/kv2" },
      ],
    });
    expect(plugins[0]!.strategy).toMatchObject({ kind: "process", portHandoff: "env" });
    expect(plugins[1]!.strategy).not.toHaveProperty("portHandoff");
  });

  it("refuses an unknown value, naming both choices", () => {
    const error = refusal(() =>
      resolveHostConfig({
        plugins: [{ name: "kv", command: "/opt/kv", portHandoff: "stdout" as "env" }],
      }),
    );
    expect(error.message).toContain(
      'plugins[0].portHandoff must be "announce" (cpg SDK plugins) or "env" (plugins that read PORT, e.g. Go), got "stdout"',
    );
  });

  it("refuses portHandoff on a remote plugin", () => {
    const error = refusal(() =>
      resolveHostConfig({
        plugins: [{ url: "http://127.0.0.1:9000", portHandoff: "env" }],
      }),
    );
    expect(error.message).toContain(
      'plugins[0].portHandoff applies to process plugins ("command") only',
    );
  });
});
