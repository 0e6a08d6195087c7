import { describe, expect, it } from "vitest";
import { isPluginError, PluginError } from "./plugin-error.js";

describe("PluginError", () => {
  it("carries a code, a message and the cause", () => {
    const cause = new Error("boom");
    const error = new PluginError("join_failed", "handshake failed", { cause });
    expect(error).toBeInstanceOf(Error);
    expect([error.name, error.code, error.message, error.cause]).toEqual([
      "PluginError",
      "join_failed",
      "handshake failed",
      cause,
    ]);
  });

  it("is recognised by isPluginError, also when made by another copy of the package", () => {
    expect(isPluginError(new PluginError("closed", "closed"))).toBe(true);
    // Another copy has another class, but the same registered symbol.
    const foreign = Object.assign(new Error("x"), { code: "closed" });
    Object.defineProperty(foreign, Symbol.for("@cpg/plugin-sdk/PluginError"), { value: true });
    expect(isPluginError(foreign)).toBe(true);
  });

  it.each([
    ["an Error", new Error("x")],
    ["a look-alike without the brand", { name: "PluginError", code: "closed" }],
    ["null", null],
    ["a string", "PluginError"],
  ])("rejects %s", (_, value) => {
    expect(isPluginError(value)).toBe(false);
  });
});
