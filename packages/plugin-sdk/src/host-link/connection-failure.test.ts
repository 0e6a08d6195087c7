import * as http from "node:http";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { connectNodeAdapter, createConnectTransport } from "@connectrpc/connect-node";
import { HealthState, PluginControl } from "@cpg/protocol";
import { listenOnFreePort, type TestServer } from "@cpg/test-utils";
import { afterEach, describe, expect, it } from "vitest";
import { errorOf } from "../test-support/test-plugins.js";
import { isConnectionFailure } from "./connection-failure.js";

const servers: TestServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function serve(handler: http.RequestListener): Promise<TestServer> {
  const server = await listenOnFreePort(http.createServer(handler));
  servers.push(server);
  return server;
}

// A PluginControl server whose GetHealth runs `getHealth`.
function controlServer(getHealth: () => Promise<void> | void) {
  return serve(
    connectNodeAdapter({
      routes(router) {
        router.service(PluginControl, {
          async getHealth() {
            await getHealth();
            return { state: HealthState.HEALTHY };
          },
        });
      },
    }),
  );
}

const control = (baseUrl: string) =>
  createClient(
    PluginControl,
    createConnectTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat: true }),
  );

describe("isConnectionFailure over real connections", () => {
  it("is true for a refused connection (connect-node: unavailable)", async () => {
    const gone = await serve(() => {});
    await gone.close();
    const error = await errorOf(control(gone.url).getHealth({}));
    expect(error?.code).toBe(Code.Unavailable);
    expect(isConnectionFailure(error)).toBe(true);
  });

  it("is true for a connection reset while the call waits (connect-node: aborted)", async () => {
    let entered!: () => void;
    const inHandler = new Promise<void>((resolve) => {
      entered = resolve;
    });
    const server = await controlServer(() => {
      entered();
      return new Promise<void>(() => {});
    });
    const call = errorOf(control(server.url).getHealth({}));
    await inHandler;
    await server.close();
    const error = await call;
    expect(error?.code).toBe(Code.Aborted);
    expect(isConnectionFailure(error)).toBe(true);
  });

  it("is false for unavailable answered by a live server", async () => {
    const server = await controlServer(() => {
      throw new ConnectError("provider is down", Code.Unavailable);
    });
    const error = await errorOf(control(server.url).getHealth({}));
    expect([error?.code, error?.rawMessage]).toEqual([Code.Unavailable, "provider is down"]);
    expect(isConnectionFailure(error)).toBe(false);
  });

  it("is false for a proxy's 502 (unavailable by HTTP status)", async () => {
    const server = await serve((_req, res) => {
      res.writeHead(502, { "content-type": "text/plain" }).end("upstream failed\n");
    });
    const error = await errorOf(control(server.url).getHealth({}));
    expect(error?.code).toBe(Code.Unavailable);
    expect(isConnectionFailure(error)).toBe(false);
  });

  it("is false for a call that ran out of time or was canceled", async () => {
    const server = await controlServer(() => new Promise<void>(() => {}));
    const timedOut = await errorOf(control(server.url).getHealth({}, { timeoutMs: 20 }));
    expect(timedOut?.code).toBe(Code.DeadlineExceeded);
    expect(isConnectionFailure(timedOut)).toBe(false);
    const abort = new AbortController();
    const call = errorOf(control(server.url).getHealth({}, { signal: abort.signal }));
    abort.abort();
    const canceled = await call;
    expect(canceled?.code).toBe(Code.Canceled);
    expect(isConnectionFailure(canceled)).toBe(false);
  });
});

describe("isConnectionFailure on the errors connect-node builds", () => {
  // connectErrorFromNodeReason keeps the Node.js error as cause.
  const nodeError = (code: string, message: string) =>
    Object.assign(new Error(message), { code }) as Error & { code: string };
  const wrapped = (code: Code, cause: Error) => {
    const error = new ConnectError(cause.message, code);
    error.cause = cause;
    return error;
  };

  it.each<[string, Error, boolean]>([
    [
      "a write to a closed connection (EPIPE)",
      wrapped(Code.Internal, nodeError("EPIPE", "write EPIPE")),
      true,
    ],
    [
      "a host name that does not resolve",
      wrapped(Code.Unavailable, nodeError("ENOTFOUND", "getaddrinfo ENOTFOUND replica-2")),
      true,
    ],
    [
      "an HTTP/2 session that went away",
      wrapped(
        Code.Internal,
        nodeError(
          "ERR_HTTP2_GOAWAY_SESSION",
          "New streams cannot be created after receiving a GOAWAY",
        ),
      ),
      true,
    ],
    [
      "an HTTP/2 stream the server refused",
      wrapped(
        Code.Internal,
        nodeError("ERR_HTTP2_STREAM_ERROR", "Stream closed with error code NGHTTP2_REFUSED_STREAM"),
      ),
      true,
    ],
    [
      "an HTTP/2 stream the server reset (an answer)",
      wrapped(
        Code.Internal,
        nodeError("ERR_HTTP2_STREAM_ERROR", "Stream closed with error code NGHTTP2_INTERNAL_ERROR"),
      ),
      false,
    ],
    [
      "a cause deeper in the chain",
      wrapped(
        Code.Unknown,
        new Error("outer", { cause: nodeError("ECONNRESET", "read ECONNRESET") }),
      ),
      true,
    ],
    ["an error without a cause", new ConnectError("overloaded", Code.Unavailable), false],
    ["a plain error", new Error("boom"), false],
  ])("%s: %s", (_, error, expected) => {
    expect(isConnectionFailure(error)).toBe(expected);
  });

  it("is false for values that are not errors, and stops on a cause cycle", () => {
    expect(isConnectionFailure(undefined)).toBe(false);
    expect(isConnectionFailure("ECONNREFUSED")).toBe(false);
    const a = new Error("a");
    const b = new Error("b", { cause: a });
    a.cause = b;
    expect(isConnectionFailure(a)).toBe(false);
  });
});
