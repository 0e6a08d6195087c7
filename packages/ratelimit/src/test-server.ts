// Test-only (not exported, not built): real servers on 127.0.0.1 port 0 and
// the service the integration tests call.
import type * as http from "node:http";
import type * as http2 from "node:http2";
import type { AddressInfo, Socket } from "node:net";
import type { ConnectRouter } from "@connectrpc/connect";
import { Code, ConnectError } from "@connectrpc/connect";
import { HealthState, PluginControl, pluginHealthV1 } from "@cpg/protocol";
import { getClientAddress } from "./client-address.js";

/** A listening server and how to stop it. */
export interface TestServer {
  readonly port: number;
  readonly url: string;
  /** Destroys open connections and sessions, then closes the server. */
  close(): Promise<void>;
}

/** Listens on 127.0.0.1 with a free port; tracks connections so `close` never hangs. */
export async function listenOnLoopback(
  server: http.Server | http2.Http2Server,
  scheme = "http",
): Promise<TestServer> {
  const sockets = new Set<Socket>();
  const sessions = new Set<http2.Http2Session>();
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });
  server.on("session", (session: http2.Http2Session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `${scheme}://127.0.0.1:${port}`,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const session of sessions) session.destroy();
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}

/** Resolves once `signal` is aborted. */
export function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener("abort", () => resolve(), { once: true });
  });
}

/** Routes of the test service and what they observed. */
export interface TestRoutes {
  readonly routes: (router: ConnectRouter) => void;
  /** Client address of every `GetHealth` that reached the handler. */
  readonly served: (string | undefined)[];
  /** Resolves with the next `Watch` stream that ends on the server. */
  nextWatchEnd(): Promise<string>;
  /** Ends every held `Watch` stream normally. */
  releaseHeld(): void;
}

/**
 * `PluginControl.GetHealth` answers HEALTHY with the client address as
 * `reason`. `HealthService.Watch` sends SERVING, then by `service`:
 * `"hold"` stays open until cancelled or `releaseHeld()`, `"fail"` fails
 * with `Code.Aborted`, anything else ends.
 */
export function createTestRoutes(): TestRoutes {
  const served: (string | undefined)[] = [];
  let waiters: ((mode: string) => void)[] = [];
  const ended = (mode: string) => {
    const current = waiters;
    waiters = [];
    for (const waiter of current) waiter(mode);
  };
  let release!: () => void;
  let released = new Promise<void>((resolve) => {
    release = resolve;
  });
  return {
    served,
    nextWatchEnd: () => new Promise((resolve) => waiters.push(resolve)),
    releaseHeld() {
      release();
      released = new Promise<void>((resolve) => {
        release = resolve;
      });
    },
    routes(router) {
      router.service(PluginControl, {
        getHealth(_req, ctx) {
          const address = getClientAddress(ctx.values);
          served.push(address);
          return { state: HealthState.HEALTHY, reason: address ?? "" };
        },
        shutdown: () => ({}),
      });
      router.service(pluginHealthV1.HealthService, {
        check: () => ({ status: pluginHealthV1.ServingStatus.SERVING }),
        async *watch(req, ctx) {
          // Captured before the first yield: the generator may resume late.
          const releasedNow = released;
          try {
            yield { status: pluginHealthV1.ServingStatus.SERVING };
            if (req.service === "hold") await Promise.race([aborted(ctx.signal), releasedNow]);
            if (req.service === "fail") throw new ConnectError("failed on purpose", Code.Aborted);
          } finally {
            ended(req.service);
          }
        },
      });
    },
  };
}
