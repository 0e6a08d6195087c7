import { describe, expect, it } from "vitest";
import { createServingStatusRegistry } from "./serving-status.js";

describe("createServingStatusRegistry", () => {
  it('knows only the server ("") at first, as not serving', () => {
    const registry = createServingStatusRegistry();
    expect([...registry.entries()]).toEqual([["", "not_serving"]]);
    expect(registry.get("kv.v1.KVService")).toBeUndefined();
  });

  it("notifies changes, and only changes", () => {
    const registry = createServingStatusRegistry();
    const changes: string[] = [];
    registry.changes.subscribe(({ service, state }) => changes.push(`${service}=${state}`));
    registry.set("", "serving");
    registry.set("", "serving");
    registry.set("kv", "serving");
    registry.set("kv", "not_serving");
    expect(changes).toEqual(["=serving", "kv=serving", "kv=not_serving"]);
    expect(registry.get("kv")).toBe("not_serving");
  });

  it("setAll changes every known service", () => {
    const registry = createServingStatusRegistry();
    registry.set("", "serving");
    registry.set("kv", "serving");
    registry.set("log", "not_serving");
    const changes: string[] = [];
    registry.changes.subscribe(({ service, state }) => changes.push(`${service}=${state}`));
    registry.setAll("not_serving");
    expect(changes).toEqual(["=not_serving", "kv=not_serving"]);
    expect(Object.fromEntries(registry.entries())).toEqual({
      "": "not_serving",
      kv: "not_serving",
      log: "not_serving",
    });
  });
});
