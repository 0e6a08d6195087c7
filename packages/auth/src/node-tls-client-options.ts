import { createPrivateKey, type KeyObject, X509Certificate } from "node:crypto";
import { readFile } from "node:fs/promises";
import { isIP } from "node:net";
import { AuthError } from "./auth-error.js";

/** PEM material for {@link createTlsClientOptions}. */
export interface TlsClientCredentials {
  /** Client certificate (PEM), for mTLS. Needs `key`. Default: none. */
  readonly cert?: string;
  /** Private key of `cert` (unencrypted PEM). Needs `cert`. Default: none. */
  readonly key?: string;
  /** CA certificate(s) (PEM) to trust instead of the system roots. Default: system roots. */
  readonly ca?: string;
  /**
   * Server name for SNI and certificate checks, when it differs from the URL
   * host. Must be a DNS name. Default: the URL host.
   */
  readonly servername?: string;
}

/** Files for {@link loadTlsClientOptions}; same meaning as {@link TlsClientCredentials}. */
export interface TlsClientFiles {
  /** Client certificate PEM file. Needs `keyFile`. Default: none. */
  readonly certFile?: string | URL;
  /** Private key PEM file. Needs `certFile`. Default: none. */
  readonly keyFile?: string | URL;
  /** CA bundle PEM file. Default: system roots. */
  readonly caFile?: string | URL;
  /** See {@link TlsClientCredentials.servername}. Default: the URL host. */
  readonly servername?: string;
}

/**
 * Validated TLS client options. Assignable to connect-node's `nodeOptions`
 * for both HTTP versions (`https.RequestOptions` for `httpVersion: "1.1"`,
 * `http2.SecureClientSessionOptions` for `"2"` and `createGrpcTransport`),
 * and to `Http2SessionManager`'s session options.
 */
export interface TlsClientOptions {
  readonly cert?: string;
  readonly key?: string;
  readonly ca?: string;
  readonly servername?: string;
}

/**
 * Checks PEM client credentials and returns options for connect-node
 * transports: the certificate and key must parse and belong together, the CA
 * bundle must hold certificates, `servername` must be a DNS name. Throws
 * `AuthError` `invalid_options` saying what is wrong.
 *
 * @example
 * ```ts
 * const tls = createTlsClientOptions({ cert, key, ca });
 * const transport = createGrpcTransport({ baseUrl: "https://host.internal:8443", nodeOptions: tls });
 * ```
 */
export function createTlsClientOptions(credentials: TlsClientCredentials): TlsClientOptions {
  const { cert, key, ca, servername } = credentials ?? {};
  if ((cert === undefined) !== (key === undefined)) {
    throw invalid("cert and key go together: give both or neither");
  }
  if (cert === undefined && ca === undefined) {
    throw invalid("give a client certificate (cert and key), a ca, or both");
  }
  const options: { cert?: string; key?: string; ca?: string; servername?: string } = {};
  if (cert !== undefined && key !== undefined) {
    const certificate = parse(cert, "cert");
    let privateKey: KeyObject;
    try {
      privateKey = createPrivateKey(key);
    } catch (cause) {
      throw invalid("key is not an unencrypted PEM private key", cause);
    }
    if (!certificate.checkPrivateKey(privateKey)) {
      throw invalid("key does not belong to cert");
    }
    options.cert = cert;
    options.key = key;
  }
  if (ca !== undefined) {
    const blocks = ca.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
    if (blocks.length === 0) throw invalid("ca holds no PEM certificate");
    for (const block of blocks) parse(block, "ca");
    options.ca = ca;
  }
  if (servername !== undefined) {
    if (servername.length === 0 || isIP(servername) !== 0) {
      throw invalid("servername must be a DNS name; omit it when connecting by IP address");
    }
    options.servername = servername;
  }
  return options;
}

/**
 * Reads PEM files and returns {@link createTlsClientOptions} of their
 * content. Unreadable files throw `AuthError` `invalid_options` naming the
 * file (the read error is the `cause`).
 *
 * @example
 * ```ts
 * const tls = await loadTlsClientOptions({
 *   certFile: "/etc/plugin/tls.crt",
 *   keyFile: "/etc/plugin/tls.key",
 *   caFile: "/etc/plugin/ca.crt",
 * });
 * const transport = createConnectTransport({ baseUrl, httpVersion: "2", nodeOptions: tls });
 * ```
 */
export async function loadTlsClientOptions(files: TlsClientFiles): Promise<TlsClientOptions> {
  const [cert, key, ca] = await Promise.all([
    read(files?.certFile, "certFile"),
    read(files?.keyFile, "keyFile"),
    read(files?.caFile, "caFile"),
  ]);
  return createTlsClientOptions({ cert, key, ca, servername: files?.servername });
}

async function read(file: string | URL | undefined, name: string): Promise<string | undefined> {
  if (file === undefined) return undefined;
  try {
    return await readFile(file, "utf8");
  } catch (cause) {
    throw invalid(`cannot read ${name} ${String(file)}`, cause);
  }
}

function parse(pem: string, name: string): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch (cause) {
    throw invalid(`${name} is not a PEM certificate`, cause);
  }
}

function invalid(message: string, cause?: unknown): AuthError {
  return new AuthError("invalid_options", `TLS client options: ${message}`, { cause });
}
