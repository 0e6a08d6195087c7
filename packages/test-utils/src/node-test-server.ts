import type * as http from "node:http";
import type * as http2 from "node:http2";
import type * as net from "node:net";
import * as tls from "node:tls";

/**
 * Any Node HTTP server: `http.createServer`, `https.createServer`,
 * `http2.createServer` (h2c) or `http2.createSecureServer`.
 */
export type AnyHttpServer = http.Server | http2.Http2Server | http2.Http2SecureServer;

/**
 * A server listening on 127.0.0.1 with a port the OS picked, and a `close()`
 * that really ends it.
 */
export interface TestServer<S extends AnyHttpServer = AnyHttpServer> {
  /** The server passed to {@link listenOnFreePort}. */
  readonly server: S;
  /** Always `"127.0.0.1"`. */
  readonly host: string;
  /** The port the OS assigned. */
  readonly port: number;
  /** `https://127.0.0.1:<port>` for TLS servers, `http://127.0.0.1:<port>` otherwise. */
  readonly url: string;
  /**
   * Destroys every open connection and HTTP/2 session (clients keep them
   * alive, and `server.close()` alone would wait for them), then resolves
   * once the server has stopped. Safe to call twice.
   */
  close(): Promise<void>;
}

/**
 * Starts `server` listening on 127.0.0.1 port 0 and tracks its connections
 * and HTTP/2 sessions so that {@link TestServer.close} can end them. Call it
 * right after creating the server, before anyone can connect.
 *
 * @example
 * ```ts
 * const running = await listenOnFreePort(http2.createSecureServer({ key, cert, allowHTTP1: true }, handler));
 * try {
 *   await fetchSomething(running.url);
 * } finally {
 *   await running.close();
 * }
 * ```
 */
export async function listenOnFreePort<S extends AnyHttpServer>(server: S): Promise<TestServer<S>> {
  // All server kinds are net.Servers underneath; their public types do not say so.
  const netServer = server as unknown as net.Server;
  const sockets = new Set<net.Socket>();
  const sessions = new Set<http2.Http2Session>();
  netServer.on("connection", (socket: net.Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });
  netServer.on("session", (session: http2.Http2Session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
  });

  await new Promise<void>((resolve, reject) => {
    netServer.once("error", reject);
    netServer.listen(0, "127.0.0.1", () => {
      netServer.off("error", reject);
      resolve();
    });
  });
  const address = netServer.address() as net.AddressInfo;
  const scheme = server instanceof tls.Server ? "https" : "http";

  let closing: Promise<void> | undefined;
  return {
    server,
    host: "127.0.0.1",
    port: address.port,
    url: `${scheme}://127.0.0.1:${address.port}`,
    close() {
      closing ??= new Promise<void>((resolve, reject) => {
        netServer.close((error) => (error ? reject(error) : resolve()));
        for (const session of sessions) session.destroy();
        for (const socket of sockets) socket.destroy();
      });
      return closing;
    },
  };
}
