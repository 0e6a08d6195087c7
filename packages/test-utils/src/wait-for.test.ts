import { EventEmitter } from "node:events";
import { describe, expect, it } from "vitest";
import { waitFor, waitForEvent } from "./wait-for.js";

describe("waitFor", () => {
  it("resolves with the first truthy value", async () => {
    let calls = 0;
    const value = await waitFor(() => (++calls >= 3 ? `after ${calls}` : undefined));
    expect(value).toBe("after 3");
  });

  it("accepts async conditions", async () => {
    await expect(waitFor(async () => 42)).resolves.toBe(42);
  });

  it("rejects after the deadline with the description", async () => {
    await expect(waitFor(() => false, { timeoutMs: 20, description: "never" })).rejects.toThrow(
      "timed out after 20 ms waiting for never",
    );
  });

  it("rejects with the condition's error", async () => {
    await expect(
      waitFor(() => {
        throw new Error("boom");
      }),
    ).rejects.toThrow("boom");
  });
});

describe("waitForEvent", () => {
  it("resolves with the arguments of the next matching emission and unsubscribes", async () => {
    const emitter = new EventEmitter();
    const next = waitForEvent<[number]>(emitter, "n", { filter: (n) => n > 1 });
    emitter.emit("n", 1);
    emitter.emit("n", 2);
    await expect(next).resolves.toEqual([2]);
    expect(emitter.listenerCount("n")).toBe(0);
  });

  it("rejects after the deadline and unsubscribes", async () => {
    const emitter = new EventEmitter();
    await expect(waitForEvent(emitter, "never", { timeoutMs: 20 })).rejects.toThrow(
      'timed out after 20 ms waiting for "never"',
    );
    expect(emitter.listenerCount("never")).toBe(0);
  });

  it("rejects when the filter throws", async () => {
    const emitter = new EventEmitter();
    const next = waitForEvent(emitter, "e", {
      filter: () => {
        throw new Error("bad filter");
      },
    });
    emitter.emit("e");
    await expect(next).rejects.toThrow("bad filter");
  });
});
