import { describe, expect, it, vi } from "vitest";

// A random source that repeats itself: the first two ids collide.
vi.mock("@cpg/auth", async (importOriginal) => {
  const actual = await importOriginal<typeof import("@cpg/auth")>();
  const ids = ["aaaaaaaaaaaaaaaa", "aaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbb"];
  return { ...actual, generateId: () => ids.shift() ?? actual.generateId(8) };
});

const { createRuntimeIdentities } = await import("./runtime-identities.js");
const { createEventStream } = await import("@cpg/plugin-sdk/internal");

describe("runtime id collisions", () => {
  it("are detected: a colliding id is never handed out twice", async () => {
    const identities = createRuntimeIdentities({
      ttlMs: 60_000,
      maxEntries: 10,
      now: Date.now,
      events: createEventStream(),
    });
    const a = await identities.issue({ selfId: "kv" });
    const b = await identities.issue({ selfId: "kv" });
    expect(a.runtimeId).toBe("kv-aaaaaaaaaaaaaaaa");
    expect(b.runtimeId).toBe("kv-bbbbbbbbbbbbbbbb");
    expect(identities.verify(a.runtimeId, a.token)).toBeDefined();
    identities.close();
  });
});
