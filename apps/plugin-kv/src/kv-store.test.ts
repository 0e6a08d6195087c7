import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { createKvStore, type KvChange } from "./kv-store.js";

describe("createKvStore", () => {
  it("reads, writes and deletes keys", () => {
    const store = createKvStore();
    expect(store.get("a")).toEqual({ value: "", found: false });
    store.put("a", "1");
    store.put("a", "2");
    expect(store.get("a")).toEqual({ value: "2", found: true });
    expect(store.delete("a")).toBe(true);
    expect(store.delete("a")).toBe(false);
    expect(store.get("a")).toEqual({ value: "", found: false });
  });

  it("streams the changes of keys with the watched prefix, in order", async () => {
    const store = createKvStore();
    const ac = new AbortController();
    const changes = store.watch("user/", ac.signal)[Symbol.asyncIterator]();
    const first = changes.next(); // registers the watcher
    expect(store.watcherCount).toBe(1);
    store.put("order/1", "x");
    store.put("user/1", "ada");
    store.delete("order/1");
    store.delete("user/1");
    store.delete("user/2"); // did not exist: no change
    store.put("user/2", "bob");
    expect((await first).value).toEqual({ key: "user/1", value: "ada", deleted: false });
    expect((await changes.next()).value).toEqual({ key: "user/1", value: "", deleted: true });
    expect((await changes.next()).value).toEqual({ key: "user/2", value: "bob", deleted: false });
    ac.abort();
    expect(await changes.next()).toEqual({ done: true, value: undefined });
    expect(store.watcherCount).toBe(0);
  });

  it("ends a waiting watch when its signal aborts", async () => {
    const store = createKvStore();
    const ac = new AbortController();
    const pending = store.watch("", ac.signal)[Symbol.asyncIterator]().next();
    expect(store.watcherCount).toBe(1);
    ac.abort();
    expect(await pending).toEqual({ done: true, value: undefined });
    expect(store.watcherCount).toBe(0);
  });

  it("ends every watch on close, and later watches at once", async () => {
    const store = createKvStore();
    const a = store.watch("")[Symbol.asyncIterator]().next();
    const b = store.watch("x")[Symbol.asyncIterator]().next();
    expect(store.watcherCount).toBe(2);
    store.close();
    expect(await a).toEqual({ done: true, value: undefined });
    expect(await b).toEqual({ done: true, value: undefined });
    expect(await store.watch("")[Symbol.asyncIterator]().next()).toEqual({
      done: true,
      value: undefined,
    });
    store.put("k", "still writable");
    expect(store.get("k").value).toBe("still writable");
  });

  it("cuts off a watcher that falls more than watchBufferSize changes behind", async () => {
    const store = createKvStore({ watchBufferSize: 2 });
    const slow = store.watch("")[Symbol.asyncIterator]();
    const first = slow.next();
    store.put("a", "1"); // delivered to the pending next()
    const seen: KvChange[] = [(await first).value as KvChange];
    store.put("b", "2");
    store.put("c", "3");
    store.put("d", "4"); // third change waiting: over the limit
    const error = await slow.next().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(seen.map((c) => c.key)).toEqual(["a"]);
    expect(error).toBeInstanceOf(ConnectError);
    expect((error as ConnectError).code).toBe(Code.ResourceExhausted);
    expect((error as ConnectError).rawMessage).toBe(
      "watcher fell behind: more than 2 changes waiting; watch again",
    );
    expect(store.watcherCount).toBe(0);
  });

  it("refuses a buffer size that is not a positive integer", () => {
    expect(() => createKvStore({ watchBufferSize: 0 })).toThrow(
      "watchBufferSize must be a positive integer, got 0",
    );
  });
});
