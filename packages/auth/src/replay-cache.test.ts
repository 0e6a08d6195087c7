import { describe, expect, it } from "vitest";
import { createReplayCache } from "./replay-cache.js";

describe("createReplayCache", () => {
  it("claims a nonce once until it expires (inclusive)", () => {
    const cache = createReplayCache(10);
    expect(cache.claim("a", 100, 200, 100)).toBe("claimed");
    expect(cache.claim("a", 100, 200, 150)).toBe("replayed");
    expect(cache.claim("a", 100, 200, 200)).toBe("replayed");
    expect(cache.claim("b", 201, 301, 201)).toBe("claimed");
    expect(cache.size).toBe(1); // "a" expired and was dropped
    expect(cache.claim("a", 201, 301, 201)).toBe("claimed");
  });

  it("sweeps expired nonces before evicting live ones", () => {
    const cache = createReplayCache(2);
    expect(cache.claim("long", 100, 1000, 100)).toBe("claimed");
    expect(cache.claim("short", 100, 150, 100)).toBe("claimed");
    // "short" expired behind a live entry: only a full sweep finds it.
    expect(cache.claim("c", 160, 260, 160)).toBe("claimed");
    expect(cache.size).toBe(2);
    expect(cache.claim("long", 100, 1000, 170)).toBe("replayed");
  });

  it("when full of live nonces, evicts the oldest and refuses requests not newer than it", () => {
    const cache = createReplayCache(2);
    expect(cache.claim("a", 100, 1000, 100)).toBe("claimed");
    expect(cache.claim("b", 110, 1010, 110)).toBe("claimed");
    expect(cache.claim("c", 120, 1020, 120)).toBe("claimed"); // evicts "a"
    expect(cache.size).toBe(2);
    expect(cache.claim("a", 100, 1000, 130)).toBe("evicted");
    expect(cache.claim("d", 100, 1000, 130)).toBe("evicted");
    expect(cache.claim("e", 125, 1025, 130)).toBe("claimed"); // evicts "b"
    expect(cache.claim("f", 105, 1005, 130)).toBe("evicted"); // not newer than "b"
    expect(cache.claim("b", 110, 1010, 130)).toBe("evicted");
  });
});
