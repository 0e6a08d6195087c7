import type { AddressInfo } from "node:net";
import * as net from "node:net";
import { afterEach, describe, expect, it, vi } from "vitest";
import { FrameWriter } from "./frame-writer.js";

const cleanup: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanup.splice(0)) c();
});

async function connectedSocket(): Promise<{ socket: net.Socket; received: () => Buffer }> {
  const chunks: Buffer[] = [];
  const server = net.createServer((s) => s.on("data", (c) => chunks.push(c)));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const socket = net.connect((server.address() as AddressInfo).port, "127.0.0.1");
  await new Promise((resolve) => socket.once("connect", resolve));
  cleanup.push(() => {
    socket.destroy();
    server.close();
  });
  return { socket, received: () => Buffer.concat(chunks) };
}

describe("FrameWriter", () => {
  it("writes everything sent in one turn of the event loop with one socket write, in order", async () => {
    const { socket, received } = await connectedSocket();
    const write = vi.spyOn(socket, "write");
    const writer = new FrameWriter(socket, () => {});
    writer.send(Buffer.from("a"));
    writer.send(Buffer.from("bc"));
    writer.send(Buffer.from("def"));
    expect(write).not.toHaveBeenCalled();
    await new Promise((resolve) => process.nextTick(resolve));
    expect(write).toHaveBeenCalledTimes(1);
    writer.send(Buffer.from("g"));
    await new Promise((resolve) => setImmediate(resolve));
    expect(write).toHaveBeenCalledTimes(2);
    await vi.waitFor(() => expect(received().toString()).toBe("abcdefg"));
  });

  it("writes large output without joining it, still in order", async () => {
    const { socket, received } = await connectedSocket();
    const writer = new FrameWriter(socket, () => {});
    const big = Buffer.alloc(100_000, 7);
    writer.send(Buffer.from("head"));
    writer.send(big);
    writer.send(Buffer.from("tail"));
    await vi.waitFor(() => expect(received().length).toBe(100_008));
    expect(received().subarray(0, 4).toString()).toBe("head");
    expect(received().subarray(-4).toString()).toBe("tail");
  });

  it("is blocked while the socket buffers too much, and says when it drained", async () => {
    const { socket } = await connectedSocket();
    let drained = 0;
    const writer = new FrameWriter(socket, () => drained++);
    writer.send(Buffer.alloc(4 * 1024 * 1024));
    writer.flush();
    expect(writer.blocked).toBe(true);
    await vi.waitFor(() => expect(drained).toBe(1), { timeout: 5000 });
    expect(writer.blocked).toBe(false);
  });

  it("writes nothing once closed", async () => {
    const { socket } = await connectedSocket();
    const write = vi.spyOn(socket, "write");
    const writer = new FrameWriter(socket, () => {});
    writer.send(Buffer.from("dropped"));
    writer.close();
    writer.send(Buffer.from("also dropped"));
    await new Promise((resolve) => setImmediate(resolve));
    expect(write).not.toHaveBeenCalled();
  });
});
