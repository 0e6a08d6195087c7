import { describe, expect, it } from "vitest";
import { processWarnings } from "./process-warnings.js";

describe("processWarnings", () => {
  it("returns the warnings emitted while the body ran, and only those", async () => {
    const warnings = await processWarnings(async () => {
      process.emitWarning("first", "TestWarning");
      const target = new EventTarget();
      // No warning: EventTarget has no listener limit unless one is set.
      target.addEventListener("x", () => {});
    });
    expect(warnings).toEqual(["TestWarning: first"]);
    process.emitWarning("after", "TestWarning");
    await new Promise((resolve) => setImmediate(resolve));
    expect(warnings).toEqual(["TestWarning: first"]);
  });

  it("returns nothing when nothing warned", async () => {
    expect(await processWarnings(async () => {})).toEqual([]);
  });
});
