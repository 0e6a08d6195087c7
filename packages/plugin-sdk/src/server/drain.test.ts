import { Code, ConnectError, createClient, createRouterTransport } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { KVService } from "../test-support/kv-service.js";
import { errorOf } from "../test-support/test-plugins.js";
import { createDrain, type Drain } from "./drain.js";

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

// KVService behind the drain: Get waits for `release` when the key is "slow",
// Put fails, Watch yields two values and then waits for `release`.
function setup(drain: Drain) {
  const entered = deferred();
  const release = deferred();
  const transport = createRouterTransport(
    (router) =>
      router.service(KVService, {
        async get(req) {
          if (req.key === "slow") {
            entered.resolve();
            await release.promise;
          }
          return { value: req.key, found: true };
        },
        put() {
          throw new ConnectError("no space left", Code.ResourceExhausted);
        },
        async *watch() {
          yield { value: "a" };
          yield { value: "b" };
          await release.promise;
        },
      }),
    { router: { interceptors: [drain.interceptor] } },
  );
  return { client: createClient(KVService, transport), entered, release };
}

describe("createDrain", () => {
  it("counts a unary call while it runs", async () => {
    const drain = createDrain();
    const { client, entered, release } = setup(drain);
    expect(drain.inFlight).toBe(0);
    const call = client.get({ key: "slow" });
    await entered.promise;
    expect(drain.inFlight).toBe(1);
    release.resolve();
    expect((await call).value).toBe("slow");
    expect(drain.inFlight).toBe(0);
  });

  it("stops counting a call that failed", async () => {
    const drain = createDrain();
    const { client } = setup(drain);
    const error = await errorOf(client.put({ key: "k", value: "v" }));
    expect([error?.code, error?.rawMessage]).toEqual([Code.ResourceExhausted, "no space left"]);
    expect(drain.inFlight).toBe(0);
  });

  it("counts a server stream until its last message", async () => {
    const drain = createDrain();
    const { client, release } = setup(drain);
    const values: string[] = [];
    const reading = (async () => {
      for await (const res of client.watch({ key: "k" })) values.push(res.value);
    })();
    await expect.poll(() => values.length).toBe(2);
    expect(drain.inFlight).toBe(1);
    release.resolve();
    await reading;
    expect(values).toEqual(["a", "b"]);
    expect(drain.inFlight).toBe(0);
  });

  it("counts out a stream cancelled before its response arrived, without reading it", async () => {
    const drain = createDrain();
    const abort = new AbortController();
    const next = async () => {
      // The caller goes away while the handler is still preparing its answer.
      abort.abort();
      return {
        stream: true,
        header: new Headers(),
        trailer: new Headers(),
        message: (async function* () {})(),
      };
    };
    await drain.interceptor(next as never)({
      stream: true,
      signal: abort.signal,
      header: new Headers(),
    } as never);
    expect(drain.inFlight).toBe(0);
  });

  it('refuses new unary and streaming calls with unavailable "host is shutting down" once started', async () => {
    const drain = createDrain();
    const { client } = setup(drain);
    drain.start();
    const unary = await errorOf(client.get({ key: "k" }));
    expect([unary?.code, unary?.rawMessage]).toEqual([Code.Unavailable, "host is shutting down"]);
    const stream = await errorOf(
      (async () => {
        for await (const _ of client.watch({ key: "k" })) {
          // Never reached.
        }
      })(),
    );
    expect([stream?.code, stream?.rawMessage]).toEqual([Code.Unavailable, "host is shutting down"]);
    expect(drain.inFlight).toBe(0);
  });

  it("refuses with the configured message", async () => {
    const drain = createDrain({ message: "plugin is shutting down" });
    const { client } = setup(drain);
    drain.start();
    const error = await errorOf(client.get({ key: "k" }));
    expect([error?.code, error?.rawMessage]).toEqual([Code.Unavailable, "plugin is shutting down"]);
  });

  it("lets calls already running finish after start()", async () => {
    const drain = createDrain();
    const { client, entered, release } = setup(drain);
    const call = client.get({ key: "slow" });
    await entered.promise;
    drain.start();
    const idle = drain.wait(10_000);
    release.resolve();
    expect((await call).value).toBe("slow");
    expect(await idle).toBe(true);
  });

  it("wait() resolves true at once when nothing is in flight", async () => {
    expect(await createDrain().wait(0)).toBe(true);
  });

  it("wait() resolves false after the timeout when a call is still running", async () => {
    const drain = createDrain();
    const { client, entered, release } = setup(drain);
    const call = client.get({ key: "slow" });
    await entered.promise;
    drain.start();
    expect(await drain.wait(10)).toBe(false);
    expect(drain.inFlight).toBe(1);
    release.resolve();
    await call;
    expect(drain.inFlight).toBe(0);
  });
});
