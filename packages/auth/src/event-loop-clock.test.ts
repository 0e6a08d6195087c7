import { afterEach, describe, expect, it, vi } from "vitest";
import { eventLoopNow } from "./event-loop-clock.js";

describe("eventLoopNow", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("reads the clock once per synchronous run and again after a microtask checkpoint", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(1_000);
    await Promise.resolve();
    const first = eventLoopNow();
    vi.setSystemTime(2_000);
    // Same synchronous run: the same instant.
    expect(eventLoopNow()).toBe(first);
    await Promise.resolve();
    expect(eventLoopNow()).toBe(2_000);
  });

  it("is wall-clock time", async () => {
    await Promise.resolve();
    const before = Date.now();
    const now = eventLoopNow();
    expect(now).toBeGreaterThanOrEqual(before);
    expect(now).toBeLessThanOrEqual(Date.now());
  });
});
