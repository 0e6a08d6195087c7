import { describe, expect, it } from "vitest";
import { createHostReplicas } from "./host-replicas.js";

const A = "http://a:1";
const B = "http://b:2";
const C = "http://c:3";

function replicasWithLog(urls: string[]) {
  const moves: Array<[string, string]> = [];
  const replicas = createHostReplicas({ urls, onFailover: (from, to) => moves.push([from, to]) });
  return { replicas, moves };
}

describe("createHostReplicas", () => {
  it("starts at the first URL and moves round-robin when the current one fails", () => {
    const { replicas, moves } = replicasWithLog([A, B, C]);
    expect(replicas.current).toBe(A);
    expect(replicas.failover(A)).toBe(B);
    expect(replicas.failover(B)).toBe(C);
    expect(replicas.failover(C)).toBe(A);
    expect(moves).toEqual([
      [A, B],
      [B, C],
      [C, A],
    ]);
  });

  it("ignores a failure of a replica it already moved away from", () => {
    const { replicas, moves } = replicasWithLog([A, B, C]);
    replicas.failover(A);
    // A second call that also failed on A must not skip B.
    expect(replicas.failover(A)).toBe(B);
    expect(moves).toEqual([[A, B]]);
  });

  it("stays on a single replica", () => {
    const { replicas, moves } = replicasWithLog([A]);
    expect(replicas.failover(A)).toBe(A);
    expect(moves).toEqual([]);
  });

  it("use() makes a listed replica current and refuses others", () => {
    const { replicas } = replicasWithLog([A, B]);
    replicas.use(B);
    expect(replicas.current).toBe(B);
    expect(() => replicas.use(C)).toThrow(`${C} is not one of the host replicas`);
  });

  it("needs a URL", () => {
    expect(() => createHostReplicas({ urls: [] })).toThrow(
      "createHostReplicas needs at least one URL",
    );
  });

  describe("call()", () => {
    const down = (error: unknown) => error instanceof Error && error.message === "down";

    it("tries the current replica, then each other one once, until one succeeds", async () => {
      const { replicas } = replicasWithLog([A, B, C]);
      replicas.use(B);
      const tried: string[] = [];
      const result = await replicas.call(async (url) => {
        tried.push(url);
        if (url !== A) throw new Error("down");
        return `answered by ${url}`;
      }, down);
      expect(result).toBe(`answered by ${A}`);
      expect(tried).toEqual([B, C, A]);
      expect(replicas.current).toBe(A);
    });

    it("gives up with the last error once every replica failed", async () => {
      const { replicas, moves } = replicasWithLog([A, B]);
      const tried: string[] = [];
      const error = await replicas
        .call(async (url) => {
          tried.push(url);
          throw Object.assign(new Error("down"), { url });
        }, down)
        .catch((e: unknown) => e as Error & { url: string });
      expect(tried).toEqual([A, B]);
      expect(error.url).toBe(B);
      // Round-robin: the next call starts after the last replica that failed.
      expect(moves).toEqual([
        [A, B],
        [B, A],
      ]);
    });

    it("does not fail over on other errors", async () => {
      const { replicas } = replicasWithLog([A, B]);
      const tried: string[] = [];
      await expect(
        replicas.call(async (url) => {
          tried.push(url);
          throw new Error("refused");
        }, down),
      ).rejects.toThrow("refused");
      expect(tried).toEqual([A]);
      expect(replicas.current).toBe(A);
    });
  });
});
