import type * as http2 from "node:http2";
import type * as https from "node:https";
import type { Interceptor, Transport } from "@connectrpc/connect";
import {
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
} from "@connectrpc/connect-node";

/**
 * How a plugin talks to its host.
 *
 * - `"connect"`: the Connect protocol with binary protobuf. Over `http://` it
 *   uses HTTP/1.1, exactly like connect-plugin-go clients, so it works with Go
 *   hosts (which listen with HTTP/1.1 only); over `https://` it uses HTTP/2.
 * - `"grpc"`: gRPC over HTTP/2 (h2c for `http://`); cpg hosts only.
 * - `"grpc-web"`: gRPC-Web with binary protobuf over HTTP/1.1.
 */
export type HostProtocol = "connect" | "grpc" | "grpc-web";

/**
 * TLS settings for calls to the host: the CA to trust and, for mTLS, the
 * client certificate and key (PEM).
 */
export interface ClientTlsOptions {
  /** PEM CA bundle that the host's certificate must chain to. Default: Node's roots. */
  readonly ca?: string | Buffer;
  /** PEM client certificate, for mTLS. Default: none. */
  readonly cert?: string | Buffer;
  /** PEM client private key, for mTLS. Default: none. */
  readonly key?: string | Buffer;
  /** Server name to verify. Default: the URL's host name. */
  readonly servername?: string;
}

/**
 * Creates the transport a plugin uses to reach a host (or, through the host's
 * router, another plugin).
 */
export function createHostTransport(options: {
  baseUrl: string;
  protocol?: HostProtocol;
  tls?: ClientTlsOptions;
  interceptors?: Interceptor[];
  /** HTTP version for the Connect protocol. Default: `"1.1"` for `http://`, `"2"` for `https://`. */
  httpVersion?: "1.1" | "2";
}): Transport {
  const protocol = options.protocol ?? "connect";
  const useHttp2 = options.httpVersion
    ? options.httpVersion === "2"
    : options.baseUrl.startsWith("https:");
  const tls = options.tls
    ? {
        ...(options.tls.ca !== undefined ? { ca: options.tls.ca } : {}),
        ...(options.tls.cert !== undefined ? { cert: options.tls.cert } : {}),
        ...(options.tls.key !== undefined ? { key: options.tls.key } : {}),
        ...(options.tls.servername !== undefined ? { servername: options.tls.servername } : {}),
      }
    : undefined;
  const common = {
    baseUrl: options.baseUrl,
    interceptors: options.interceptors ?? [],
  };
  switch (protocol) {
    case "grpc":
      return createGrpcTransport({
        ...common,
        ...(tls ? { nodeOptions: tls as http2.SecureClientSessionOptions } : {}),
      });
    case "grpc-web":
      return createGrpcWebTransport({
        ...common,
        httpVersion: "1.1",
        useBinaryFormat: true,
        ...(tls ? { nodeOptions: tls as https.RequestOptions } : {}),
      });
    default:
      return useHttp2
        ? createConnectTransport({
            ...common,
            httpVersion: "2",
            useBinaryFormat: true,
            ...(tls ? { nodeOptions: tls as http2.SecureClientSessionOptions } : {}),
          })
        : createConnectTransport({ ...common, httpVersion: "1.1", useBinaryFormat: true });
  }
}
