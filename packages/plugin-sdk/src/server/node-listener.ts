import * as http from "node:http";
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import * as net from "node:net";
import * as tls from "node:tls";

/**
 * A Node request handler that works for HTTP/1.1 and HTTP/2 requests.
 */
export type NodeRequestHandler = (
  req: http.IncomingMessage | http2.Http2ServerRequest,
  res: http.ServerResponse | http2.Http2ServerResponse,
) => void;

/**
 * TLS settings of a listener.
 */
export interface ListenerTlsOptions {
  /** PEM certificate chain of the server. */
  readonly cert: string | Buffer;
  /** PEM private key of the server. */
  readonly key: string | Buffer;
  /** PEM CA bundle that client certificates must chain to. Default: none. */
  readonly ca?: string | Buffer;
  /**
   * Client certificates: `"none"` does not ask for one, `"request"` asks and
   * leaves the decision to authentication (an unverified certificate reaches
   * the mTLS authenticator as unauthorized), `"require"` refuses the TLS
   * handshake without a certificate signed by `ca`. Default: `"none"`.
   */
  readonly clientAuth?: "none" | "request" | "require";
}

/**
 * A listening server on one port that speaks HTTP/1.1 and HTTP/2: with TLS
 * through ALPN (`h2`, `http/1.1`), in plaintext by recognising the HTTP/2
 * connection preface (h2c with prior knowledge) and handing every other
 * connection to an HTTP/1.1 server.
 */
export interface NodeListener {
  /** Base URL, e.g. `http://127.0.0.1:8080`. */
  readonly url: string;
  /** The bound port. */
  readonly port: number;
  /** Stops accepting connections and sends HTTP/2 GOAWAY; open requests go on. */
  stopAccepting(): Promise<void>;
  /**
   * Closes every remaining connection: HTTP/2 sessions finish their streams
   * (GOAWAY was sent), HTTP/1.1 connections are ended after their last
   * response is written; whatever is still open after `graceMs` is destroyed.
   */
  close(graceMs: number): Promise<void>;
}

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

/** An HTTP/2 connection served by an {@link Http2ConnectionAcceptor}. */
export interface AcceptedHttp2Connection {
  /** Takes no more requests (GOAWAY); requests in progress finish, then the connection ends. */
  close(): void;
  /** Ends the connection now. */
  destroy(): void;
}

/**
 * Serves the HTTP/2 connections of a listener instead of `node:http2`: gets
 * each connection's socket once it is known to speak HTTP/2 (the h2c
 * preface is still unread in its buffer; a TLS socket chose ALPN `h2`).
 * HTTP/1.1 connections still go to the request handler.
 */
export type Http2ConnectionAcceptor = (socket: net.Socket) => AcceptedHttp2Connection;

/** Where and how {@link listen} binds. */
export interface ListenOptions {
  readonly host: string;
  readonly port: number;
  readonly tls?: ListenerTlsOptions;
  /** Serves HTTP/2 connections instead of `node:http2`. Default: `node:http2` with the handler. */
  readonly http2?: Http2ConnectionAcceptor;
}

/**
 * Starts a {@link NodeListener} for `handler` on `host:port` (port 0 picks a
 * free port).
 */
export async function listen(
  handler: NodeRequestHandler,
  options: ListenOptions,
): Promise<NodeListener> {
  const sockets = new Set<net.Socket>();
  const sessions = new Set<http2.Http2Session>();
  const trackSession = (session: http2.Http2Session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
  };
  // HTTP/2 connections served by options.http2.
  const accepted = new Map<net.Socket, AcceptedHttp2Connection>();
  const accept = (socket: net.Socket, acceptor: Http2ConnectionAcceptor) => {
    h2Sockets.add(socket);
    accepted.set(socket, acceptor(socket));
    socket.once("close", () => accepted.delete(socket));
  };
  const h2Sockets = new WeakSet<net.Socket>();
  const trackSocket = (socket: net.Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  };
  // HTTP/1.1 connections with a response in progress: close() ends them only
  // once their last response is written (ending one earlier cuts the response).
  const busy = new Map<net.Socket, number>();
  let ending = false;
  const handle: NodeRequestHandler = (req, res) => {
    if (req.httpVersionMajor === 1) {
      const socket = req.socket as net.Socket;
      busy.set(socket, (busy.get(socket) ?? 0) + 1);
      res.once("close", () => {
        const left = (busy.get(socket) ?? 1) - 1;
        if (left > 0) {
          busy.set(socket, left);
          return;
        }
        busy.delete(socket);
        if (ending) socket.end();
      });
    }
    handler(req, res);
  };

  let outer: net.Server;
  let closeInner: () => void;
  const acceptor = options.http2;
  if (options.tls && acceptor) {
    // TLS terminated here; ALPN picks the acceptor (h2) or HTTP/1.1.
    const clientAuth = options.tls.clientAuth ?? "none";
    const h1 = http.createServer(handle as http.RequestListener);
    const secure = tls.createServer({
      cert: options.tls.cert,
      key: options.tls.key,
      ...(options.tls.ca !== undefined ? { ca: options.tls.ca } : {}),
      requestCert: clientAuth !== "none",
      rejectUnauthorized: clientAuth === "require",
      ALPNProtocols: ["h2", "http/1.1"],
    });
    secure.on("secureConnection", (socket: tls.TLSSocket) => {
      trackSocket(socket);
      socket.on("error", () => socket.destroy());
      if (socket.alpnProtocol === "h2") accept(socket, acceptor);
      else h1.emit("connection", socket);
    });
    outer = secure;
    closeInner = () => {
      h1.close();
      h1.closeIdleConnections();
    };
  } else if (options.tls) {
    const clientAuth = options.tls.clientAuth ?? "none";
    const secure = http2.createSecureServer(
      {
        allowHTTP1: true,
        cert: options.tls.cert,
        key: options.tls.key,
        ...(options.tls.ca !== undefined ? { ca: options.tls.ca } : {}),
        requestCert: clientAuth !== "none",
        rejectUnauthorized: clientAuth === "require",
      },
      handle as (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void,
    );
    secure.on("session", trackSession);
    secure.on("secureConnection", (socket: tls.TLSSocket) => trackSocket(socket));
    outer = secure;
    closeInner = () => {};
  } else {
    const h1 = http.createServer(handle as http.RequestListener);
    // The bytes read to recognise the preface go back into the socket's
    // buffer with unshift(); an HTTP/2 session reads what is buffered before
    // it reads from the socket, so h2c sessions use the real socket (its
    // address included) just like HTTP/1.1 connections.
    const h2 = http2.createServer(handle);
    h2.on("session", trackSession);
    outer = net.createServer((socket) => {
      trackSocket(socket);
      socket.on("error", () => socket.destroy());
      // Read just enough to tell an HTTP/2 preface from an HTTP/1.1 request line.
      const chunks: Buffer[] = [];
      let length = 0;
      const onData = (chunk: Buffer) => {
        chunks.push(chunk);
        length += chunk.length;
        const head = Buffer.concat(chunks, length);
        const n = Math.min(head.length, PREFACE.length);
        const isPreface = head.subarray(0, n).equals(PREFACE.subarray(0, n));
        if (isPreface && head.length < PREFACE.length) return;
        socket.off("data", onData);
        socket.pause();
        socket.unshift(head);
        if (isPreface && acceptor) {
          accept(socket, acceptor);
          socket.resume();
        } else if (isPreface) {
          h2Sockets.add(socket);
          h2.emit("connection", socket);
        } else {
          h1.emit("connection", socket);
          socket.resume();
        }
      };
      socket.on("data", onData);
    });
    closeInner = () => {
      h1.close();
      h1.closeIdleConnections();
      h2.close();
    };
  }

  await new Promise<void>((resolve, reject) => {
    outer.once("error", reject);
    outer.listen(options.port, options.host, () => {
      outer.off("error", reject);
      resolve();
    });
  });
  const address = outer.address() as AddressInfo;
  const hostForUrl = address.family === "IPv6" ? `[${address.address}]` : address.address;
  const url = `${options.tls ? "https" : "http"}://${hostForUrl}:${address.port}`;

  const stopAccepting = () => {
    if (outer.listening) outer.close();
    closeInner();
    // GOAWAY: HTTP/2 clients open no new streams; streams in flight finish.
    for (const session of sessions) {
      if (!session.closed) session.close();
    }
    for (const connection of accepted.values()) connection.close();
  };

  return {
    url,
    port: address.port,
    stopAccepting() {
      stopAccepting();
      return Promise.resolve();
    },
    async close(graceMs) {
      stopAccepting();
      ending = true;
      const closed: Promise<unknown>[] = [];
      for (const session of sessions) {
        if (!session.closed) session.close();
        closed.push(new Promise((resolve) => session.once("close", resolve)));
      }
      for (const socket of sockets) {
        if (socket.destroyed) continue;
        // Sockets that carry an HTTP/2 session close with it.
        const h2 = h2Sockets.has(socket) || (socket as tls.TLSSocket).alpnProtocol === "h2";
        if (!h2 && !busy.has(socket)) socket.end();
        closed.push(new Promise((resolve) => socket.once("close", resolve)));
      }
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.all(closed),
        new Promise((resolve) => {
          timer = setTimeout(resolve, graceMs);
        }),
      ]);
      clearTimeout(timer);
      for (const session of sessions) session.destroy();
      for (const connection of accepted.values()) connection.destroy();
      for (const socket of sockets) socket.destroy();
    },
  };
}
