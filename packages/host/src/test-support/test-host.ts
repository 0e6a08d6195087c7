import { randomBytes } from "node:crypto";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { create } from "@bufbuild/protobuf";
import { type Client, createClient, type Transport } from "@connectrpc/connect";
import { silentLogger } from "@cpg/plugin-sdk";
import {
  bearer,
  CORE_PROTOCOL_VERSION,
  type HandshakeRequest,
  HandshakeRequestSchema,
  HandshakeService,
  MAGIC_COOKIE_KEY,
  MAGIC_COOKIE_VALUE,
  RUNTIME_ID_HEADER,
} from "@cpg/protocol";
import { createHost, type Host } from "../host.js";
import type { HostOptions } from "../host-options.js";

/**
 * A manual clock for tests, in Unix milliseconds.
 */
export function manualClock(start = Date.now()) {
  let t = start;
  return {
    now: () => t,
    advance(ms: number) {
      t += ms;
    },
  };
}

/**
 * A host for tests: silent logger, rate limits off unless given (on with
 * defaults under the production profile, which requires them).
 */
export function testHost(options: HostOptions = {}): Host {
  const rateLimits = options.profile === "production" ? {} : false;
  return createHost({ logger: silentLogger, rateLimits, ...options });
}

/**
 * A valid handshake request, with overrides.
 */
export function handshakeRequest(
  init: MessageInitShape<typeof HandshakeRequestSchema> = {},
): HandshakeRequest {
  return create(HandshakeRequestSchema, {
    coreProtocolVersion: CORE_PROTOCOL_VERSION,
    appProtocolVersion: 1,
    magicCookieKey: MAGIC_COOKIE_KEY,
    magicCookieValue: MAGIC_COOKIE_VALUE,
    selfId: "test-plugin",
    selfVersion: "1.0.0",
    // Fresh replay protection, as cpg plugins send it (override with "" / 0n for Go style).
    nonce: randomBytes(18).toString("base64url"),
    timestampUnixMs: BigInt(Date.now()),
    ...init,
  });
}

/**
 * Headers that authenticate as a runtime.
 */
export function runtimeHeaders(runtimeId: string, token: string): Headers {
  return new Headers({ [RUNTIME_ID_HEADER]: runtimeId, authorization: bearer(token) });
}

/**
 * A handshake client on a transport.
 */
export function handshakeClient(transport: Transport): Client<typeof HandshakeService> {
  return createClient(HandshakeService, transport);
}

/**
 * A runtime that joined `host` in memory, with an authenticated transport.
 */
export async function joinInMemory(
  host: Host,
  selfId: string,
  init: MessageInitShape<typeof HandshakeRequestSchema> = {},
) {
  const id = await handshakeClient(host.createInMemoryTransport()).handshake(
    handshakeRequest({ selfId, ...init }),
  );
  const headers = runtimeHeaders(id.runtimeId, id.runtimeToken);
  const transport = host.createInMemoryTransport({
    interceptors: [
      (next) => (req) => {
        for (const [k, v] of headers) req.header.set(k, v);
        return next(req);
      },
    ],
  });
  return { runtimeId: id.runtimeId, token: id.runtimeToken, transport, headers };
}
