import { describe, expect, it } from "vitest";
import { createEventStream } from "./event-stream.js";

describe("createEventStream", () => {
  it("delivers events to listeners in subscription order", () => {
    const stream = createEventStream<number>();
    const seen: string[] = [];
    stream.subscribe((n) => seen.push(`a${n}`));
    stream.subscribe((n) => seen.push(`b${n}`));
    stream.emit(1);
    stream.emit(2);
    expect(seen).toEqual(["a1", "b1", "a2", "b2"]);
    expect(stream.listenerCount).toBe(2);
  });

  it("unsubscribes each subscription once, even for the same function", () => {
    const stream = createEventStream<number>();
    const seen: number[] = [];
    const listener = (n: number) => seen.push(n);
    const off1 = stream.subscribe(listener);
    const off2 = stream.subscribe(listener);
    stream.emit(1);
    off1();
    off1();
    stream.emit(2);
    off2();
    stream.emit(3);
    expect(seen).toEqual([1, 1, 2]);
    expect(stream.listenerCount).toBe(0);
  });

  it("reports a throwing listener and still runs the others", () => {
    const errors: unknown[] = [];
    const stream = createEventStream<string>((error) => errors.push(error));
    const seen: string[] = [];
    stream.subscribe(() => {
      throw new Error("listener broke");
    });
    stream.subscribe((e) => seen.push(e));
    stream.emit("x");
    expect(seen).toEqual(["x"]);
    expect((errors[0] as Error).message).toBe("listener broke");
  });

  it("lets a listener unsubscribe itself while an event is delivered", () => {
    const stream = createEventStream<number>();
    const seen: string[] = [];
    const off = stream.subscribe((n) => {
      seen.push(`once${n}`);
      off();
    });
    stream.subscribe((n) => seen.push(`always${n}`));
    stream.emit(1);
    stream.emit(2);
    expect(seen).toEqual(["once1", "always1", "always2"]);
  });
});
