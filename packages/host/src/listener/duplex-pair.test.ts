import { describe, expect, it } from "vitest";
import { duplexPair } from "./duplex-pair.js";

const read = (stream: NodeJS.ReadableStream) =>
  new Promise<Buffer>((resolve) => {
    const chunks: Buffer[] = [];
    stream.on("data", (c: Buffer) => chunks.push(c));
    stream.on("end", () => resolve(Buffer.concat(chunks)));
  });

describe("duplexPair", () => {
  it("carries bytes and ends both ways", async () => {
    const [a, b] = duplexPair();
    const atB = read(b);
    const atA = read(a);
    a.end("from a");
    b.end("from b");
    expect((await atB).toString()).toBe("from a");
    expect((await atA).toString()).toBe("from b");
  });

  it("completes a write only once the other end has room: backpressure", async () => {
    const [a, b] = duplexPair();
    b.pause();
    const big = Buffer.alloc(64 << 10);
    let completed = 0;
    // The other end buffers up to its high-water mark; later writes wait.
    for (let i = 0; i < 8; i++) a.write(big, () => completed++);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(completed).toBeLessThan(8);
    expect(a.writableNeedDrain).toBe(true);
    const drained = new Promise((resolve) => a.once("drain", resolve));
    b.resume();
    await drained;
    expect(completed).toBe(8);
  });

  it("destroys the other end with it", async () => {
    const [a, b] = duplexPair();
    const closed = new Promise((resolve) => b.once("close", resolve));
    a.destroy();
    await closed;
    expect(b.destroyed).toBe(true);
  });
});
