import { createClient } from "@connectrpc/connect";
import { HealthState, PluginLifecycle } from "@cpg/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Host } from "../host.js";
import { joinInMemory, runtimeHeaders, testHost } from "../test-support/test-host.js";

// Timing of runtime-token checks through the host (AUTH-HIGH-003, C-2): a
// token that differs from the real one in its first character is rejected
// as fast as one that differs in its last. Robust statistics as in
// packages/auth/src/constant-time-equal.test.ts: interleaved batches (order
// alternating each round), a low percentile (noise only adds time), best
// ratio of 3 independent measurements.

let host: Host;
let runtimeId: string;
let token: string;
beforeAll(async () => {
  host = testHost();
  ({ runtimeId, token } = await joinInMemory(host, "timed"));
});
afterAll(() => host?.close());

/** The real token with the character at `index` changed (same length, same alphabet). */
const differAt = (index: number) =>
  token.slice(0, index) + (token[index] === "A" ? "B" : "A") + token.slice(index + 1);

async function lowPercentiles(
  measure: (candidate: string, n: number) => Promise<number>,
  candidates: readonly string[],
  rounds: number,
  batch: number,
): Promise<number[]> {
  const times = candidates.map(() => [] as number[]);
  for (const c of candidates) await measure(c, batch); // warm-up
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? [...candidates.keys()] : [...candidates.keys()].reverse();
    for (const k of order) times[k]!.push(await measure(candidates[k]!, batch));
  }
  return times.map((t) => t.sort((x, y) => x - y)[Math.floor(t.length / 10)]!);
}

async function steadiestRatio(
  measure: (candidate: string, n: number) => Promise<number>,
  early: string,
  late: string,
  rounds: number,
  batch: number,
): Promise<number[]> {
  const ratios: number[] = [];
  for (let attempt = 0; attempt < 3; attempt++) {
    const [a, b] = await lowPercentiles(measure, [early, late], rounds, batch);
    ratios.push(b! / a!);
    if (ratios.at(-1)! > 0.8 && ratios.at(-1)! < 1.25) break;
  }
  return ratios;
}

const best = (ratios: number[]) =>
  ratios.reduce((x, y) => (Math.abs(Math.log(y)) < Math.abs(Math.log(x)) ? y : x));

describe("token check timing through the host (AUTH-HIGH-003, C-2)", () => {
  it("a host API call with a token wrong in its first or its last character takes the same time", async () => {
    const lifecycle = createClient(PluginLifecycle, host.createInMemoryTransport());
    const measure = async (candidate: string, n: number) => {
      const headers = runtimeHeaders(runtimeId, candidate);
      const start = process.hrtime.bigint();
      for (let i = 0; i < n; i++) {
        await lifecycle.reportHealth({ state: HealthState.HEALTHY }, { headers }).then(
          () => {
            throw new Error("a wrong token was accepted");
          },
          () => undefined,
        );
      }
      return Number(process.hrtime.bigint() - start);
    };
    const ratios = await steadiestRatio(measure, differAt(0), differAt(token.length - 1), 30, 40);
    console.log(
      `[security-suite] timing through the host (ReportHealth, in-memory, ${token.length}-char token): last/first-character ratio per attempt ${ratios.map((r) => r.toFixed(3)).join(", ")}`,
    );
    expect(best(ratios)).toBeGreaterThan(0.8);
    expect(best(ratios)).toBeLessThan(1.25);
  }, 60_000);

  it("the host's token verification alone (no RPC overhead) shows no position dependence either", async () => {
    // Tokens are looked up in a hash table: the time of one wrong token
    // depends on where its (seeded) hash falls, not on which character is
    // wrong. Each side is therefore 16 different wrong tokens, flat strings as
    // a request header gives them, so that per-string hash effects average out
    // and only a dependence on the position could remain.
    const variants = (index: number) =>
      Array.from({ length: 16 }, (_, k) => {
        const replacement = "ABCDEFGHIJKLMNOPQ".replace(token[index]!, "")[k]!;
        return Buffer.from(token.slice(0, index) + replacement + token.slice(index + 1)).toString();
      });
    const early = variants(0);
    const late = variants(token.length - 1);
    const measure = async (candidate: string, n: number) => {
      const list = candidate === "early" ? early : late;
      let accepted = 0;
      const start = process.hrtime.bigint();
      for (let i = 0; i < n; i++) if (host.identities.verify(runtimeId, list[i & 15]!)) accepted++;
      const ns = Number(process.hrtime.bigint() - start);
      expect(accepted).toBe(0);
      return ns;
    };
    const ratios = await steadiestRatio(measure, "early", "late", 100, 2000);
    console.log(
      `[security-suite] timing of identities.verify: last/first-character ratio per attempt ${ratios.map((r) => r.toFixed(3)).join(", ")}`,
    );
    expect(best(ratios)).toBeGreaterThan(0.7);
    expect(best(ratios)).toBeLessThan(1.4);
  });
});
