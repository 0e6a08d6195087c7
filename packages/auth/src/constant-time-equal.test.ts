import { describe, expect, it } from "vitest";
import { constantTimeEqual } from "./constant-time-equal.js";

describe("constantTimeEqual", () => {
  it("tells equal from different strings", () => {
    expect(constantTimeEqual("abc", "abc")).toBe(true);
    expect(constantTimeEqual("", "")).toBe(true);
    expect(constantTimeEqual("abc", "abd")).toBe(false);
    expect(constantTimeEqual("xbc", "abc")).toBe(false);
    expect(constantTimeEqual("ab", "abc")).toBe(false);
    expect(constantTimeEqual("abc", "ab")).toBe(false);
    expect(constantTimeEqual("abcabc", "abc")).toBe(false); // wrap-around is not a match
    expect(constantTimeEqual("", "abc")).toBe(false);
    expect(constantTimeEqual("abc", "")).toBe(false);
    expect(constantTimeEqual("é", "e")).toBe(false);
    expect(constantTimeEqual("token-ü", "token-ü")).toBe(true);
  });

  it("tells apart strings of different lengths whatever they share", () => {
    const token = "q3J9xY0bT_k-Z8mN4pL2wR6vH1sC5dF7gA0eI9uO3tQ";
    expect(constantTimeEqual(token, token.slice(0, -1))).toBe(false);
    expect(constantTimeEqual(token.slice(0, -1), token)).toBe(false);
    expect(constantTimeEqual(`${token}x`, token)).toBe(false);
    expect(constantTimeEqual(token, `${token}${token}`)).toBe(false);
    expect(constantTimeEqual(`${token}${token}`, token)).toBe(false);
    expect(constantTimeEqual("aaaa", "aaa")).toBe(false);
    expect(constantTimeEqual("aaa", "aaaa")).toBe(false);
  });

  it("finds a difference in any single position, by UTF-16 code unit", () => {
    const token = "q3J9xY0bT_k-Z8mN4pL2wR6vH1sC5dF7gA0eI9uO3tQ";
    expect(constantTimeEqual(Array.from(token).join(""), token)).toBe(true);
    for (let i = 0; i < token.length; i++) {
      const wrong = `${token.slice(0, i)}${token[i] === "A" ? "B" : "A"}${token.slice(i + 1)}`;
      expect(constantTimeEqual(wrong, token)).toBe(false);
      expect(constantTimeEqual(token, wrong)).toBe(false);
    }
    // Code units that agree in their low byte are still different.
    expect(constantTimeEqual("\u0141", "A")).toBe(false);
    expect(constantTimeEqual("\ud83d\ude00", "\ud83d\ude01")).toBe(false);
    expect(constantTimeEqual("\ud83d\ude00", "\ud83d\ude00")).toBe(true);
  });
});

/** A flat (non-rope) string, so both inputs have the same representation. */
function flat(chars: string[]): string {
  return chars.join("");
}

/**
 * Low-percentile time of batches of `compare(input, secret)` for each input,
 * measured interleaved (alternating order each round) so machine noise hits
 * both alike. Returns the 10th-percentile batch time per input, in nanoseconds.
 */
function batchTimes(
  compare: (a: string, b: string) => boolean,
  inputs: readonly (readonly [string, string])[],
  rounds = 120,
  batch = 1000,
): number[] {
  const times = inputs.map(() => [] as number[]);
  let sink = 0;
  for (let i = 0; i < batch * 5; i++) {
    for (const [a, b] of inputs) sink += compare(a, b) ? 1 : 0;
  }
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? inputs.keys() : [...inputs.keys()].reverse();
    for (const k of order) {
      const [a, b] = inputs[k]!;
      const start = process.hrtime.bigint();
      for (let i = 0; i < batch; i++) sink += compare(a, b) ? 1 : 0;
      times[k]!.push(Number(process.hrtime.bigint() - start));
    }
  }
  expect(sink).toBe(0); // all inputs differ; also keeps the loops from being optimised away
  // A low percentile: interruptions only ever add time, so the fast batches
  // show the comparison itself best.
  return times.map((t) => t.sort((x, y) => x - y)[Math.floor(t.length / 10)]!);
}

/**
 * The ratio of the two inputs' batch times that is closest to 1 over a few
 * independent measurements. A real leak (like an early exit) shows in every
 * measurement; a burst of noise on a busy machine rarely does three times.
 */
function steadiestRatio(
  compare: (a: string, b: string) => boolean,
  inputs: readonly [readonly [string, string], readonly [string, string]],
  attempts = 3,
): number {
  let best = Number.POSITIVE_INFINITY;
  for (let i = 0; i < attempts; i++) {
    const [first, second] = batchTimes(compare, inputs);
    const ratio = second! / first!;
    if (Math.abs(Math.log(ratio)) < Math.abs(Math.log(best))) best = ratio;
    if (ratio > 0.8 && ratio < 1.25) break;
  }
  return best;
}

function naiveEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a.charCodeAt(i) !== b.charCodeAt(i)) return false;
  return true;
}

describe("constantTimeEqual timing", () => {
  const length = 256;
  const secretChars = Array.from({ length }, (_, i) => String.fromCharCode(97 + ((i * 7) % 26)));
  const secret = flat(secretChars);
  const differAt = (index: number) => flat(secretChars.map((c, i) => (i === index ? "#" : c)));
  const early = differAt(0);
  const late = differAt(length - 1);

  it("does not depend on the position of the first differing character", () => {
    const ratio = steadiestRatio(constantTimeEqual, [
      [early, secret],
      [late, secret],
    ]);
    expect(ratio).toBeGreaterThan(0.7);
    expect(ratio).toBeLessThan(1.4);
  });

  it("does not depend on the length of the secret", () => {
    const shortSecret = flat(secretChars.slice(0, 32));
    const ratio = steadiestRatio(constantTimeEqual, [
      [late, shortSecret],
      [late, secret],
    ]);
    expect(ratio).toBeGreaterThan(0.7);
    expect(ratio).toBeLessThan(1.4);
  });

  it("flags an early-exit comparison with the same measurement (the method is sensitive)", () => {
    expect(
      steadiestRatio(naiveEqual, [
        [early, secret],
        [late, secret],
      ]),
    ).toBeGreaterThan(3);
  });
});
