import * as http from "node:http";
import * as https from "node:https";
import type { H2TlsOptions } from "../h2-client/connect-socket.js";
import { connectH2Session, type H2ClientSession } from "../h2-client/h2-client-session.js";

/**
 * Connections from the router to providers: one HTTP/2 session per origin
 * (reused by every call, replaced when it closes or goes away) and keep-alive
 * HTTP/1.1 agents for providers that speak only HTTP/1.1.
 */
export interface UpstreamPool {
  /** A live HTTP/2 connection to `origin` (h2c for `http:`, ALPN h2 for `https:`). */
  session(origin: string): H2ClientSession;
  /** The keep-alive agent for HTTP/1.1 calls to `origin`'s scheme. */
  agent(origin: string): http.Agent;
  /** Number of open HTTP/2 sessions. */
  readonly size: number;
  /** Closes every session and agent. */
  close(): void;
}

/**
 * TLS settings for calls from the router to providers (HTTP/2 and HTTP/1.1
 * alike): the HTTP/2 client's own.
 */
export type UpstreamTlsOptions = H2TlsOptions;

/**
 * Creates an {@link UpstreamPool}.
 */
export function createUpstreamPool(tls: UpstreamTlsOptions = {}): UpstreamPool {
  const sessions = new Map<string, H2ClientSession>();
  const httpAgent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  const httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 256, ...tls });
  const pool: Omit<UpstreamPool, "size"> = {
    session(origin) {
      const existing = sessions.get(origin);
      if (existing !== undefined && !existing.closed) return existing;
      // Replaced as soon as it takes no more calls (GOAWAY, error, close);
      // idle connections do not keep the process alive.
      const session: H2ClientSession = connectH2Session(origin, {
        tls,
        onUnusable: () => {
          if (sessions.get(origin) === session) sessions.delete(origin);
        },
      });
      sessions.set(origin, session);
      return session;
    },
    agent(origin) {
      return origin.startsWith("https:") ? httpsAgent : httpAgent;
    },
    close() {
      for (const session of sessions.values()) session.destroy();
      sessions.clear();
      httpAgent.destroy();
      httpsAgent.destroy();
    },
  };
  // Not a getter in the literal: V8 keeps object literals with accessors in
  // slow dictionary mode, and every method call would pay for that.
  return Object.defineProperty(pool, "size", {
    get: () => sessions.size,
    enumerable: true,
  }) as UpstreamPool;
}
