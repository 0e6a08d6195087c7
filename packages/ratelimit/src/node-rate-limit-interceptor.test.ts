// Integration: the interceptor on real HTTP/1.1 and HTTP/2 servers on
// 127.0.0.1, called by connect-node clients over real connections.
import * as http from "node:http";
import * as http2 from "node:http2";
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import {
  connectNodeAdapter,
  createConnectTransport,
  createGrpcTransport,
} from "@connectrpc/connect-node";
import { PluginControl, pluginHealthV1, RUNTIME_ID_HEADER } from "@cpg/protocol";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createMemoryRateLimitStore } from "./memory-rate-limit-store.js";
import { clientAddressContextValues, type NodeServerRequest } from "./node-client-address.js";
import { createRateLimitInterceptor } from "./rate-limit-interceptor.js";
import { createTestRoutes, listenOnLoopback, type TestServer } from "./test-server.js";

const WATCH = "/connectplugin.health.v1.HealthService/Watch";
const GET_HEALTH = "/connectplugin.v1.PluginControl/GetHealth";

const store = createMemoryRateLimitStore();
const test = createTestRoutes();
/** Client port of every request that reached the adapter. */
const ports: number[] = [];
let h1: TestServer;
let h2: TestServer;

beforeAll(async () => {
  const handler = connectNodeAdapter({
    routes: test.routes,
    interceptors: [
      createRateLimitInterceptor({
        store,
        rules: [
          { match: GET_HEALTH, rate: 0.001, burst: 3 },
          { match: WATCH, rate: 1000, burst: 1000, maxConcurrentStreams: 2 },
        ],
      }),
    ],
    contextValues: (req: NodeServerRequest) => {
      ports.push(req.socket.remotePort ?? -1);
      return clientAddressContextValues(req);
    },
  });
  h1 = await listenOnLoopback(http.createServer(handler));
  h2 = await listenOnLoopback(http2.createServer(handler));
});

afterAll(async () => {
  await Promise.all([h1?.close(), h2?.close()]);
  store.close();
});

const aborts: AbortController[] = [];
afterEach(async () => {
  for (const abort of aborts.splice(0)) abort.abort();
  store.close(); // fresh buckets per test
});

async function failure(call: Promise<unknown>): Promise<ConnectError> {
  try {
    await call;
  } catch (error) {
    return ConnectError.from(error);
  }
  throw new Error("expected the call to fail");
}

describe.each<[string, (baseUrl: string) => Transport]>([
  ["Connect", (baseUrl) => createConnectTransport({ baseUrl, httpVersion: "2" })],
  ["gRPC", (baseUrl) => createGrpcTransport({ baseUrl })],
])("concurrent streams over real HTTP/2 (%s)", (_name, transport) => {
  it("rejects a third open stream and accepts one again after a cancel", async () => {
    const health = createClient(pluginHealthV1.HealthService, transport(h2.url));
    const hold = async () => {
      const abort = new AbortController();
      aborts.push(abort);
      const it = health
        .watch({ service: "hold" }, { signal: abort.signal })
        [Symbol.asyncIterator]();
      const first = await it.next(); // open on the server
      expect(first.done).toBe(false);
      return abort;
    };
    const firstAbort = await hold();
    await hold();

    const third = await failure(hold());
    expect(third.code).toBe(Code.ResourceExhausted);
    expect(third.rawMessage).toBe(
      `concurrent stream limit (2) exceeded for ${WATCH}; retry after 1000 ms`,
    );
    expect(third.metadata.get("retry-after")).toBe("1");

    const ended = test.nextWatchEnd();
    firstAbort.abort();
    // The server saw the cancel; the slot was freed before the handler resumed.
    await ended;
    await hold();
  });
});

describe("acceptance: one limit per client IP", () => {
  it("cannot be escaped with new connections, source ports, runtime ids or X-Forwarded-For", async () => {
    const servedBefore = test.served.length;
    const portsBefore = ports.length;
    const attempts: Promise<string>[] = [];
    // Eight callers, each on its own connection (own source port), each
    // claiming another runtime id and forwarding address: 4 on HTTP/2 (one
    // session each), 4 on HTTP/1.1 without keep-alive.
    for (let i = 0; i < 8; i++) {
      const transport =
        i % 2 === 0
          ? createConnectTransport({ baseUrl: h2.url, httpVersion: "2" })
          : createConnectTransport({
              baseUrl: h1.url,
              httpVersion: "1.1",
              nodeOptions: { agent: new http.Agent({ keepAlive: false }) },
            });
      const control = createClient(PluginControl, transport);
      attempts.push(
        control
          .getHealth(
            {},
            {
              headers: {
                [RUNTIME_ID_HEADER]: `plugin-${i}`,
                "x-forwarded-for": `198.51.100.${i}`,
              },
            },
          )
          .then(
            (res) => `ok ${res.reason}`,
            (error) => ConnectError.from(error).rawMessage,
          ),
      );
    }
    const results = await Promise.all(attempts);
    expect(results.filter((r) => r === "ok 127.0.0.1")).toHaveLength(3);
    expect(
      results.filter((r) => r.startsWith(`rate limit exceeded for ${GET_HEALTH}; retry after `)),
    ).toHaveLength(5);
    expect(test.served.length - servedBefore).toBe(3);
    // Really different connections: eight distinct source ports.
    expect(new Set(ports.slice(portsBefore)).size).toBe(8);
  });
});
