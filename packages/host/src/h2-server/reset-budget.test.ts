import { describe, expect, it } from "vitest";
import { ResetBudget } from "./reset-budget.js";

describe("ResetBudget", () => {
  it("allows a burst, then refills at its rate, never above the burst", () => {
    const budget = new ResetBudget(3, 10, 0);
    expect([budget.take(0), budget.take(0), budget.take(0), budget.take(0)]).toEqual([
      true,
      true,
      true,
      false,
    ]);
    // 10 per second: one more after 100 ms, not before.
    expect(budget.take(90)).toBe(false);
    expect(budget.take(100)).toBe(true);
    expect(budget.take(100)).toBe(false);
    // A long pause refills to the burst only.
    const after = [1, 2, 3, 4].map(() => budget.take(60_000));
    expect(after).toEqual([true, true, true, false]);
  });
});
