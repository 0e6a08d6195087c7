/**
 * How many streams a client may reset, as a token bucket: `burst` at once,
 * refilled at `perSecond`. A client that opens streams and resets them at
 * once makes the server start work it never finishes (the "rapid reset"
 * attack, CVE-2023-44487); past the budget the connection is closed.
 */
export class ResetBudget {
  private tokens: number;
  private last: number;
  private readonly burst: number;
  private readonly perSecond: number;

  constructor(burst: number, perSecond: number, now: number = performance.now()) {
    this.burst = burst;
    this.perSecond = perSecond;
    this.tokens = burst;
    this.last = now;
  }

  /** Spends one reset; false when the budget is used up. */
  take(now: number = performance.now()): boolean {
    const elapsed = now - this.last;
    if (elapsed > 0) {
      this.tokens = Math.min(this.burst, this.tokens + (elapsed * this.perSecond) / 1000);
      this.last = now;
    }
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
