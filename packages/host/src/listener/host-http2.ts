import type * as net from "node:net";
import type {
  AcceptedHttp2Connection,
  Http2ConnectionAcceptor,
  NodeRequestHandler,
} from "@cpg/plugin-sdk/internal";
import type { H2ClientSession } from "../h2-client/h2-client-session.js";
import type { H2RequestHandlers } from "../h2-server/h2-request-handlers.js";
import { H2ServerSession } from "../h2-server/h2-server-session.js";
import type { H2ServerStream } from "../h2-server/h2-server-stream.js";
import { createNodeBridge } from "./node-bridge.js";
import { relayStream } from "./relay-stream.js";

/**
 * Serves one request natively (on the host's own HTTP/2 stream) and
 * returns its handlers, or returns undefined to leave it to the Node
 * request handler.
 */
export type NativeStreamHandler = (
  stream: H2ServerStream,
  socket: net.Socket,
) => H2RequestHandlers | undefined;

/**
 * The host's HTTP/2 connections: each is an {@link H2ServerSession}; its
 * requests go to `native` first (the hot paths: routed calls), and the
 * others to `handler` through an in-process `node:http2` server
 * ({@link createNodeBridge}), so they behave exactly as when Node serves
 * them. Returns the acceptor for the listener, and `close` for the
 * in-process server.
 */
export function createHostHttp2(
  handler: NodeRequestHandler,
  native: NativeStreamHandler,
): { acceptor: Http2ConnectionAcceptor; close: () => void } {
  const bridge = createNodeBridge(handler);
  const acceptor: Http2ConnectionAcceptor = (socket): AcceptedHttp2Connection => {
    let inProcess: H2ClientSession | undefined;
    const session = new H2ServerSession(socket, {
      onStream(stream) {
        const handlers = native(stream, socket);
        if (handlers !== undefined) return handlers;
        inProcess ??= bridge.connect(socket);
        return relayStream(stream, inProcess);
      },
      onClose() {
        inProcess?.destroy();
      },
    });
    return {
      close: () => session.close(),
      destroy: () => session.destroy(),
    };
  };
  return { acceptor, close: () => bridge.close() };
}
