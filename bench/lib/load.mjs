// The load generator of the router benchmarks, in a process of its own.
//
// It joins the host as a caller plugin (so it holds a runtime token), then
// calls cpg.examples.v1.EchoService over gRPC on HTTP/2 (connect-node's
// createGrpcTransport, one HTTP/2 connection per target) at whatever base
// URLs the suite names: the provider itself, the host's router, a proxy.
// Every target gets the same request, credentials included, so that the
// calls differ only in their path.
//
// Started by bench/lib/child-process.mjs#startChild; the suite then calls:
//   join({ hostUrl })                       -> { runtimeId }
//   target({ name, baseUrl })               -> void
//   ready({ name, timeoutMs })              -> void (first successful call)
//   latency({ name, calls, maxMs })         -> number[] (µs, one call at a time, at most
//                                              `calls` calls or `maxMs` ms)
//   throughput({ name, concurrency, ms })   -> { perSecond, calls }
//   stream({ name, count, reps })           -> number[] (ms per server stream)
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { EchoService } from "@cpg/examples-proto";
import { createPlugin, silentLogger } from "@cpg/plugin-sdk";
import { bearer, RUNTIME_ID_HEADER } from "@cpg/protocol";
import { serveParent } from "./child-process.mjs";

const MESSAGE = { message: "hello, plugin" };

let caller;
/** @type {Record<string, string>} */
let headers = {};
const clients = new Map();

function client(name) {
  const c = clients.get(name);
  if (!c) throw new Error(`no target "${name}"`);
  return c;
}

async function unary(c) {
  const res = await c.echo(MESSAGE, { headers });
  if (res.message !== MESSAGE.message) throw new Error("wrong echo");
}

serveParent(
  {},
  {
    async join({ hostUrl }) {
      caller = createPlugin({
        selfId: "bench-caller",
        version: "1.0.0",
        requires: [{ type: "echo" }],
        logger: silentLogger,
      });
      const credentials = await caller.join(hostUrl);
      headers = {
        [RUNTIME_ID_HEADER]: credentials.runtimeId,
        authorization: bearer(credentials.token),
      };
      return { runtimeId: credentials.runtimeId };
    },
    target({ name, baseUrl }) {
      const transport = createGrpcTransport({ baseUrl, httpVersion: "2" });
      clients.set(name, createClient(EchoService, transport));
    },
    async ready({ name, timeoutMs = 10_000 }) {
      const end = performance.now() + timeoutMs;
      for (;;) {
        try {
          await unary(client(name));
          return;
        } catch (error) {
          if (performance.now() > end) throw error;
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      }
    },
    async latency({ name, calls, maxMs = Number.POSITIVE_INFINITY }) {
      const c = client(name);
      const samples = [];
      const end = performance.now() + maxMs;
      for (let i = 0; i < calls; i++) {
        const t0 = performance.now();
        await unary(c);
        const t1 = performance.now();
        samples.push((t1 - t0) * 1000);
        if (t1 > end) break;
      }
      return samples;
    },
    async throughput({ name, concurrency, ms }) {
      const c = client(name);
      let done = 0;
      const start = performance.now();
      const end = start + ms;
      const worker = async () => {
        while (performance.now() < end) {
          await unary(c);
          done++;
        }
      };
      await Promise.all(Array.from({ length: concurrency }, worker));
      return { perSecond: done / ((performance.now() - start) / 1000), calls: done };
    },
    async stream({ name, count, reps }) {
      const c = client(name);
      const times = [];
      for (let r = 0; r < reps; r++) {
        const t0 = performance.now();
        let n = 0;
        for await (const m of c.echoServerStream({ message: "s", count }, { headers })) {
          if (m.index !== n++) throw new Error("stream out of order");
        }
        if (n !== count) throw new Error(`stream ended after ${n} of ${count} messages`);
        times.push(performance.now() - t0);
      }
      return times;
    },
    async stop() {
      await caller?.close(100);
    },
  },
);
