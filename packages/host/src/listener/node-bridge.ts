import * as http2 from "node:http2";
import type * as net from "node:net";
import type { NodeRequestHandler } from "@cpg/plugin-sdk/internal";
import { H2ClientSession } from "../h2-client/h2-client-session.js";
import { duplexPair } from "./duplex-pair.js";

/**
 * Serves requests of the host's own HTTP/2 connections with a Node request
 * handler, through an in-process `node:http2` server: each caller's
 * connection gets one in-process HTTP/2 connection to it (made on its first
 * such request), and the handler sees the caller's socket as `req.socket`
 * (its address, TLS state and client certificate), not the in-process one.
 */
export interface NodeBridge {
  /** The in-process connection for the caller connected on `socket`. */
  connect(socket: net.Socket): H2ClientSession;
  /** Closes the in-process server. */
  close(): void;
}

/**
 * Creates a {@link NodeBridge} to `handler`.
 */
export function createNodeBridge(handler: NodeRequestHandler): NodeBridge {
  // The caller's socket of each in-process session.
  const callers = new WeakMap<http2.Http2Session, net.Socket>();
  let connecting: net.Socket | undefined;
  const server = http2.createServer({
    // The caller's connection already keeps to the host's stream limit.
    settings: { maxConcurrentStreams: 2 ** 31 - 1 },
  });
  server.on("session", (session) => {
    if (connecting !== undefined) callers.set(session, connecting);
  });
  server.on("request", (req, res) => {
    const caller = callers.get(req.stream.session!);
    if (caller !== undefined) {
      Object.defineProperty(req, "socket", { value: caller, configurable: true });
      Object.defineProperty(res, "socket", { value: caller, configurable: true });
    }
    handler(req, res);
  });
  return {
    connect(socket) {
      const [inner, outer] = duplexPair();
      connecting = socket;
      try {
        server.emit("connection", outer);
      } finally {
        connecting = undefined;
      }
      return new H2ClientSession(new URL("http://in-process"), {
        socket: inner as unknown as net.Socket,
      });
    },
    close() {
      server.close();
    },
  };
}
