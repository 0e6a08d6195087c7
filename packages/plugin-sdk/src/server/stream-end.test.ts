import { describe, expect, it } from "vitest";
import { onStreamEnd, type StreamEnd } from "./stream-end.js";

async function* numbers(n: number, failAt = -1) {
  for (let i = 0; i < n; i++) {
    if (i === failAt) throw new Error(`failed at ${i}`);
    yield i;
  }
}

function record<T>(source: AsyncIterable<T>) {
  const ends: StreamEnd[] = [];
  const order: string[] = [];
  const wrapped = onStreamEnd(source, (end) => {
    ends.push(end);
    order.push("end");
  });
  return { wrapped, ends, order };
}

describe("onStreamEnd", () => {
  it("passes every message through and reports the end once, before the consumer sees it", async () => {
    const { wrapped, ends, order } = record(numbers(3));
    for await (const n of wrapped) order.push(String(n));
    order.push("consumer done");
    expect(order).toEqual(["0", "1", "2", "end", "consumer done"]);
    expect(ends).toEqual([{ failed: false, error: undefined }]);
  });

  it("reports a failing source with its error, and the consumer still gets the error", async () => {
    const { wrapped, ends } = record(numbers(3, 1));
    const seen: number[] = [];
    await expect(
      (async () => {
        for await (const n of wrapped) seen.push(n);
      })(),
    ).rejects.toThrow("failed at 1");
    expect(seen).toEqual([0]);
    expect(ends).toHaveLength(1);
    expect(ends[0]!.failed).toBe(true);
    expect((ends[0]!.error as Error).message).toBe("failed at 1");
  });

  it("reports a consumer that stops early, and runs the source's finally", async () => {
    let cleaned = false;
    async function* endless() {
      try {
        for (let i = 0; ; i++) yield i;
      } finally {
        cleaned = true;
      }
    }
    const { wrapped, ends } = record(endless());
    for await (const n of wrapped) if (n === 2) break;
    expect(cleaned).toBe(true);
    expect(ends).toEqual([{ failed: false, error: undefined }]);
  });

  it("hands back the source's own promise: no extra hop per message", async () => {
    const promise = Promise.resolve({ done: false, value: 1 } as IteratorResult<number>);
    const source: AsyncIterable<number> = {
      [Symbol.asyncIterator]: () => ({ next: () => promise }),
    };
    const iterator = onStreamEnd(source, () => {})[Symbol.asyncIterator]();
    expect(iterator.next()).toBe(promise);
  });

  it("takes a second callback on a wrapped stream instead of wrapping it again; innermost runs first", async () => {
    const order: string[] = [];
    const inner = onStreamEnd(numbers(2), () => order.push("inner"));
    const outer = onStreamEnd(inner, () => order.push("outer"));
    expect(outer).toBe(inner);
    for await (const n of outer) order.push(String(n));
    expect(order).toEqual(["0", "1", "inner", "outer"]);
  });

  it("reports a source that cannot even start", () => {
    const source: AsyncIterable<number> = {
      [Symbol.asyncIterator]: () => {
        throw new Error("no stream");
      },
    };
    const { wrapped, ends } = record(source);
    expect(() => wrapped[Symbol.asyncIterator]()).toThrow("no stream");
    expect(ends).toMatchObject([{ failed: true }]);
  });

  it("reports a source whose next() throws synchronously", () => {
    const source: AsyncIterable<number> = {
      [Symbol.asyncIterator]: () => ({
        next: () => {
          throw new Error("sync");
        },
      }),
    };
    const { wrapped, ends } = record(source);
    expect(() => wrapped[Symbol.asyncIterator]().next()).toThrow("sync");
    expect(ends).toMatchObject([{ failed: true }]);
  });
});
