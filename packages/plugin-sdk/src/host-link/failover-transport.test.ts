import * as http from "node:http";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { connectNodeAdapter, createConnectTransport } from "@connectrpc/connect-node";
import { listenOnFreePort, type TestServer } from "@cpg/test-utils";
import { afterEach, describe, expect, it } from "vitest";
import { KVService } from "../test-support/kv-service.js";
import { errorOf } from "../test-support/test-plugins.js";
import { isConnectionFailure } from "./connection-failure.js";
import { createFailoverTransport } from "./failover-transport.js";
import { createHostReplicas } from "./host-replicas.js";

const servers: TestServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

interface Replica {
  readonly server: TestServer;
  readonly url: string;
  /** Keys of Get calls this replica served. */
  readonly served: string[];
  /** Resolves once a Watch stream is open on this replica. */
  readonly watching: Promise<void>;
}

// A KV server standing in for one host replica: Get answers the replica's
// URL, or fails with `unavailable` for the key "unavailable"; Watch sends one
// message and stays open.
async function startReplica(): Promise<Replica> {
  const served: string[] = [];
  let url = "";
  let opened!: () => void;
  const watching = new Promise<void>((resolve) => {
    opened = resolve;
  });
  const server = await listenOnFreePort(
    http.createServer(
      connectNodeAdapter({
        routes(router) {
          router.service(KVService, {
            get(req) {
              served.push(req.key);
              if (req.key === "unavailable") {
                throw new ConnectError("no provider", Code.Unavailable);
              }
              return { value: url, found: true };
            },
            async *watch(_req, ctx) {
              yield { value: url };
              opened();
              await new Promise<void>((resolve) =>
                ctx.signal.addEventListener("abort", () => resolve()),
              );
            },
          });
        },
      }),
    ),
  );
  servers.push(server);
  url = server.url;
  return { server, url, served, watching };
}

async function closedUrl(): Promise<string> {
  const server = await listenOnFreePort(http.createServer());
  await server.close();
  return server.url;
}

function kvOver(urls: string[], shouldFailOver = isConnectionFailure) {
  const moves: Array<[string, string]> = [];
  const replicas = createHostReplicas({ urls, onFailover: (from, to) => moves.push([from, to]) });
  const transport = createFailoverTransport({
    replicas,
    transportFor: (baseUrl) =>
      createConnectTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat: true }),
    shouldFailOver,
  });
  return { kv: createClient(KVService, transport), replicas, moves };
}

describe("createFailoverTransport", () => {
  it("sends a unary call again on the next replica when the current one refuses connections", async () => {
    const dead = await closedUrl();
    const live = await startReplica();
    const { kv, replicas, moves } = kvOver([dead, live.url]);
    expect((await kv.get({ key: "k1" })).value).toBe(live.url);
    expect(replicas.current).toBe(live.url);
    expect(moves).toEqual([[dead, live.url]]);
    // Later calls go to the new current replica directly.
    await kv.get({ key: "k2" });
    expect(live.served).toEqual(["k1", "k2"]);
    expect(moves).toHaveLength(1);
  });

  it("fails over when the current replica goes away between calls", async () => {
    const a = await startReplica();
    const b = await startReplica();
    const { kv, replicas } = kvOver([a.url, b.url]);
    expect((await kv.get({ key: "k1" })).value).toBe(a.url);
    await a.server.close();
    expect((await kv.get({ key: "k2" })).value).toBe(b.url);
    expect(replicas.current).toBe(b.url);
    expect([a.served, b.served]).toEqual([["k1"], ["k2"]]);
  });

  it("gives up with the last replica's error when none can be reached", async () => {
    const first = await closedUrl();
    const second = await closedUrl();
    const { kv, replicas, moves } = kvOver([first, second]);
    const error = await errorOf(kv.get({ key: "k" }));
    expect(error?.code).toBe(Code.Unavailable);
    expect(error?.message).toContain(`ECONNREFUSED ${second.slice("http://".length)}`);
    expect(moves).toEqual([
      [first, second],
      [second, first],
    ]);
    expect(replicas.current).toBe(first);
  });

  it("does not fail over on an error the replica answered", async () => {
    const a = await startReplica();
    const b = await startReplica();
    const { kv, replicas } = kvOver([a.url, b.url]);
    const error = await errorOf(kv.get({ key: "unavailable" }));
    expect([error?.code, error?.rawMessage]).toEqual([Code.Unavailable, "no provider"]);
    expect(replicas.current).toBe(a.url);
    expect(b.served).toEqual([]);
  });

  it("fails over on an answered error when shouldFailOver says so", async () => {
    const a = await startReplica();
    const b = await startReplica();
    const { kv, replicas } = kvOver(
      [a.url, b.url],
      (e) => ConnectError.from(e).code === Code.Unavailable,
    );
    const error = await errorOf(kv.get({ key: "unavailable" }));
    expect(error?.code).toBe(Code.Unavailable);
    // Both answered; round-robin brings it back to the first one.
    expect([a.served, b.served]).toEqual([["unavailable"], ["unavailable"]]);
    expect(replicas.current).toBe(a.url);
  });

  it("does not send a stream again, but fails over so that the next one opens on the next replica", async () => {
    const dead = await closedUrl();
    const live = await startReplica();
    const { kv, replicas } = kvOver([dead, live.url]);
    const abort = new AbortController();
    const first = await errorOf(
      (async () => {
        for await (const _ of kv.watch({ key: "k" }, { signal: abort.signal })) break;
      })(),
    );
    expect(first?.code).toBe(Code.Unavailable);
    expect(replicas.current).toBe(live.url);
    for await (const event of kv.watch({ key: "k" }, { signal: abort.signal })) {
      expect(event.value).toBe(live.url);
      break;
    }
  });

  it("fails over when the replica of an open stream goes away", async () => {
    const a = await startReplica();
    const b = await startReplica();
    const { kv, replicas } = kvOver([a.url, b.url]);
    const values: string[] = [];
    const watching = errorOf(
      (async () => {
        for await (const event of kv.watch({ key: "k" })) values.push(event.value);
      })(),
    );
    await a.watching;
    await expect.poll(() => values).toEqual([a.url]);
    await a.server.close();
    const error = await watching;
    expect(isConnectionFailure(error)).toBe(true);
    expect(values).toEqual([a.url]);
    expect(replicas.current).toBe(b.url);
  });

  it("does not fail over for a stream the caller canceled", async () => {
    const a = await startReplica();
    const b = await startReplica();
    const { kv, replicas } = kvOver([a.url, b.url], () => true);
    const abort = new AbortController();
    const watching = errorOf(
      (async () => {
        for await (const _ of kv.watch({ key: "k" }, { signal: abort.signal })) abort.abort();
      })(),
    );
    expect((await watching)?.code).toBe(Code.Canceled);
    expect(replicas.current).toBe(a.url);
  });
});
