import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import type { KVService } from "@cpg/examples-proto";
import type { KvStore } from "./kv-store.js";

/** Longest key accepted, in UTF-8 bytes. */
export const MAX_KEY_BYTES = 1024;

function checkKey(key: string): void {
  if (key === "") throw new ConnectError("key must not be empty", Code.InvalidArgument);
  const bytes = Buffer.byteLength(key);
  if (bytes > MAX_KEY_BYTES) {
    throw new ConnectError(
      `key too long: ${bytes} bytes (max: ${MAX_KEY_BYTES})`,
      Code.InvalidArgument,
    );
  }
}

/**
 * The `KVService` implementation over a {@link KvStore}: Get, Put, Delete,
 * and Watch, which streams changes until the caller goes away.
 */
export function createKvService(store: KvStore): Partial<ServiceImpl<typeof KVService>> {
  return {
    get(req) {
      checkKey(req.key);
      return store.get(req.key);
    },
    put(req) {
      checkKey(req.key);
      store.put(req.key, req.value);
      return {};
    },
    delete(req) {
      checkKey(req.key);
      return { found: store.delete(req.key) };
    },
    // ctx.signal aborts when the caller cancels or disconnects: the watch ends.
    async *watch(req, ctx) {
      yield* store.watch(req.prefix, ctx.signal);
    },
  };
}
