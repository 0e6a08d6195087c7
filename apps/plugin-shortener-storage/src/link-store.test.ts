import { describe, expect, it } from "vitest";
import { createLinkStore } from "./link-store.js";

describe("createLinkStore", () => {
  it("saves a code once and loads it", () => {
    const links = createLinkStore();
    expect(links.load("abc")).toBeUndefined();
    expect(links.save("abc", "https://example.com/")).toBe("saved");
    expect(links.load("abc")).toBe("https://example.com/");
    expect(links.save("abc", "https://example.com/")).toBe("unchanged");
    expect(links.save("abc", "https://other.example/")).toBe("taken");
    expect(links.load("abc")).toBe("https://example.com/");
    expect(links.size).toBe(1);
  });

  it("refuses new codes once full", () => {
    const links = createLinkStore({ maxLinks: 1 });
    expect(links.save("a", "https://a.example/")).toBe("saved");
    expect(links.save("b", "https://b.example/")).toBe("full");
    expect(links.save("a", "https://a.example/")).toBe("unchanged");
  });

  it("refuses a size that is not a positive integer", () => {
    expect(() => createLinkStore({ maxLinks: 0 })).toThrow(
      "maxLinks must be a positive integer, got 0",
    );
  });
});
