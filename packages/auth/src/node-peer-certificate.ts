import type * as http from "node:http";
import type * as http2 from "node:http2";
import type * as tls from "node:tls";
import { type ContextValues, createContextValues } from "@connectrpc/connect";
import { type PeerCertificate, peerCertificateKey } from "./peer-certificate.js";

/**
 * A request as connect-node's `connectNodeAdapter` passes it to its
 * `contextValues` option: HTTP/1.1 or HTTP/2.
 */
export type NodeServerRequest = http.IncomingMessage | http2.Http2ServerRequest;

/**
 * Context values carrying the verified-or-not client certificate of the
 * request's TLS connection, for connect-node's `contextValues` option. The
 * `mtlsAuthenticator` reads them. For plaintext connections, or TLS clients
 * that sent no certificate, the values hold no certificate.
 *
 * Works for `https.createServer` (HTTP/1.1) and `http2.createSecureServer`
 * (HTTP/2 and, with `allowHTTP1`, HTTP/1.1). The server needs
 * `requestCert: true`; with `rejectUnauthorized: false` the TLS handshake
 * also completes for unverified clients, and the authenticator answers them
 * `unauthenticated` instead of a connection error.
 *
 * @example
 * ```ts
 * const handler = connectNodeAdapter({
 *   routes,
 *   interceptors: [createAuthInterceptor({ authenticators: [mtlsAuthenticator()] })],
 *   contextValues: peerCertificateContextValues,
 * });
 * http2.createSecureServer({ key, cert, ca, requestCert: true, allowHTTP1: true }, handler);
 * ```
 */
export function peerCertificateContextValues(req: NodeServerRequest): ContextValues {
  return attachPeerCertificate(createContextValues(), req);
}

/**
 * Adds the client certificate of `req`'s TLS connection to existing context
 * values (see {@link peerCertificateContextValues}), so a server can combine
 * it with its own values. Returns `values`.
 *
 * @example
 * ```ts
 * contextValues: (req) => attachPeerCertificate(createContextValues().set(clientIpKey, ip(req)), req),
 * ```
 */
export function attachPeerCertificate(
  values: ContextValues,
  req: NodeServerRequest,
): ContextValues {
  // For HTTP/2, `req.socket` is a proxy to the session's TLS socket; its
  // methods are bound to that socket, so the same calls work for both.
  const socket = req.socket as Partial<tls.TLSSocket> | null;
  if (typeof socket?.getPeerCertificate !== "function") {
    return values; // plaintext
  }
  const cert = socket.getPeerCertificate();
  if (cert?.raw === undefined) {
    return values; // the client sent no certificate: Node returns {}
  }
  return values.set(peerCertificateKey, toPeerCertificate(cert, socket));
}

function toPeerCertificate(
  cert: tls.PeerCertificate,
  socket: Partial<tls.TLSSocket>,
): PeerCertificate {
  const altNames = parseSubjectAltName(cert.subjectaltname ?? "");
  const namesOf = (type: string) =>
    (altNames ?? []).filter((n) => n.type === type).map((n) => n.value);
  const error: unknown = socket.authorizationError;
  return Object.freeze({
    // A certificate whose names cannot be read must not authenticate by
    // whichever name happened to be readable.
    authorized: socket.authorized === true && altNames !== undefined,
    authorizationError:
      altNames === undefined
        ? "UNPARSEABLE_SUBJECT_ALT_NAME"
        : error === undefined || error === null
          ? undefined
          : ((error as { code?: string }).code ?? String(error)),
    commonNames: subjectValues(cert.subject, "CN"),
    organizations: subjectValues(cert.subject, "O"),
    uris: namesOf("URI"),
    dnsNames: namesOf("DNS"),
    emails: namesOf("email"),
    ipAddresses: namesOf("IP Address"),
    fingerprint256: cert.fingerprint256.replace(/:/g, "").toLowerCase(),
    serialNumber: cert.serialNumber.toUpperCase(),
    validFrom: new Date(cert.valid_from),
    validTo: new Date(cert.valid_to),
  });
}

/** Node gives a string, or an array when the attribute repeats. */
function subjectValues(subject: tls.Certificate | undefined, key: "CN" | "O"): string[] {
  const value: unknown = subject?.[key];
  if (typeof value === "string") return [value];
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === "string");
  return [];
}

/**
 * Parses Node's `subjectaltname` text, e.g.
 * `DNS:localhost, IP Address:127.0.0.1, URI:spiffe://td/x`. Node JSON-quotes
 * values that contain `,`, `"` or other special characters, so a name
 * containing `", URI:"` cannot smuggle in a second entry.
 */
function parseSubjectAltName(text: string): { type: string; value: string }[] | undefined {
  const names: { type: string; value: string }[] = [];
  let i = 0;
  while (i < text.length) {
    const colon = text.indexOf(":", i);
    if (colon < 0) break;
    const type = text.slice(i, colon);
    let end: number;
    let value: string;
    if (text[colon + 1] === '"') {
      end = colon + 2;
      while (end < text.length && text[end] !== '"') end += text[end] === "\\" ? 2 : 1;
      end++;
      try {
        value = JSON.parse(text.slice(colon + 1, end)) as string;
      } catch {
        return undefined;
      }
    } else {
      const comma = text.indexOf(", ", colon);
      end = comma < 0 ? text.length : comma;
      value = text.slice(colon + 1, end);
    }
    names.push({ type, value });
    i = end + 2; // skip ", "
  }
  return names;
}
