import * as net from "node:net";
import * as tls from "node:tls";

/** TLS settings of a connection to an `https:` provider. */
export interface H2TlsOptions {
  /** CA bundle the provider's certificate chains to. Default: Node's roots. */
  readonly ca?: string | Buffer;
  /** Client certificate the host presents (mTLS). Default: none. */
  readonly cert?: string | Buffer;
  /** Its key. */
  readonly key?: string | Buffer;
}

/**
 * Opens the socket of an HTTP/2 connection to `origin`: plain TCP for
 * `http:` (h2c with prior knowledge), TLS with ALPN `h2` for `https:`
 * (`onNotH2` is called when the server picks another protocol). Nagle is
 * off, and the socket does not keep the process alive.
 */
export function connectSocket(
  origin: URL,
  tlsOptions: H2TlsOptions | undefined,
  onNotH2: () => void,
): net.Socket {
  const https = origin.protocol === "https:";
  const port = Number(origin.port) || (https ? 443 : 80);
  // WHATWG URLs keep the brackets of an IPv6 hostname.
  const host = origin.hostname.replace(/^\[(.*)\]$/, "$1");
  let socket: net.Socket;
  if (https) {
    const secure = tls.connect({
      host,
      port,
      ALPNProtocols: ["h2"],
      // SNI takes host names only (RFC 6066).
      ...(net.isIP(host) === 0 ? { servername: host } : {}),
      ...tlsOptions,
    });
    secure.once("secureConnect", () => {
      if (secure.alpnProtocol !== "h2") onNotH2();
    });
    socket = secure;
  } else {
    socket = net.connect({ host, port });
  }
  socket.setNoDelay(true);
  socket.unref();
  return socket;
}
