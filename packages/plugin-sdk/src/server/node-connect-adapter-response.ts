import { Code, ConnectError, type ConnectRouterOptions } from "@connectrpc/connect";
import {
  type Compression,
  compressedFlag,
  createAsyncIterable,
  encodeEnvelope,
  type UniversalServerResponse,
} from "@connectrpc/connect/protocol";
import {
  codeToHttpStatus,
  errorFromJsonBytes,
  errorToJsonBytes,
  headerContentType,
  headerUnaryContentLength,
  headerUnaryEncoding,
} from "@connectrpc/connect/protocol-connect";
import {
  findTrailerError,
  headerEncoding as headerGrpcEncoding,
  headerGrpcStatus,
  headerStatusDetailsBin,
  setTrailerStatus,
} from "@connectrpc/connect/protocol-grpc";
import {
  contentTypeRegExp as grpcWebContentType,
  trailerFlag,
  trailerParse,
  trailerSerialize,
} from "@connectrpc/connect/protocol-grpc-web";
import { invalidRequestMessage } from "./node-connect-adapter-decoding.js";

/** What {@link rewriteUndecodableResponse} needs to read and write bodies. */
export interface ResponseRewriteOptions {
  /** The compressions the handlers accept: error bodies may be compressed with one. */
  readonly acceptCompression: readonly Compression[];
  /** Bound for decompressing an error body. */
  readonly readMaxBytes: number;
  /** The handlers' JSON options, for writing a Connect error body. */
  readonly jsonOptions: ConnectRouterOptions["jsonOptions"];
}

const HTTP_INTERNAL = codeToHttpStatus(Code.Internal);

/**
 * connect-es's answer to a unary call that failed before reaching the
 * interceptors, with an `internal` "parse binary: ..." error (the request
 * message did not decode) rewritten as `invalid_argument` in the protocol of
 * the answer: a Connect unary JSON error body and HTTP status, gRPC trailers,
 * or a gRPC-Web trailer frame. Every other answer is returned unchanged (its
 * body re-buffered when it had to be read). Rewritten bodies are sent
 * uncompressed, which every protocol allows.
 */
export async function rewriteUndecodableResponse(
  res: UniversalServerResponse,
  options: ResponseRewriteOptions,
): Promise<UniversalServerResponse> {
  if (res.trailer?.has(headerGrpcStatus)) return rewriteGrpc(res, res.trailer);
  const contentType = res.header?.get(headerContentType) ?? "";
  if (grpcWebContentType.test(contentType)) return rewriteGrpcWeb(res, options);
  if (res.status === HTTP_INTERNAL && contentType.startsWith("application/json")) {
    return rewriteConnectUnary(res, options);
  }
  return res;
}

function rewriteGrpc(res: UniversalServerResponse, trailer: Headers): UniversalServerResponse {
  const replacement = invalidRequestMessage(findTrailerError(trailer));
  if (replacement === undefined) return res;
  const rewritten = new Headers(trailer);
  rewritten.delete(headerStatusDetailsBin);
  setTrailerStatus(rewritten, replacement);
  return { ...res, trailer: rewritten };
}

async function rewriteGrpcWeb(
  res: UniversalServerResponse,
  options: ResponseRewriteOptions,
): Promise<UniversalServerResponse> {
  const body = await readBody(res.body);
  const unchanged = { ...res, body: createAsyncIterable([body]) };
  // An error before any message: the body is the trailer frame alone.
  const frame = singleEnvelope(body);
  if (frame === undefined || (frame.flags & trailerFlag) === 0) return unchanged;
  let data = frame.data;
  if ((frame.flags & compressedFlag) !== 0) {
    const compression = compressionOf(res.header?.get(headerGrpcEncoding), options);
    if (compression === undefined) return unchanged;
    data = await compression.decompress(data, options.readMaxBytes);
  }
  const trailer = trailerParse(data);
  const replacement = invalidRequestMessage(findTrailerError(trailer));
  if (replacement === undefined) return unchanged;
  trailer.delete(headerStatusDetailsBin);
  setTrailerStatus(trailer, replacement);
  return {
    ...res,
    body: createAsyncIterable([encodeEnvelope(trailerFlag, trailerSerialize(trailer))]),
  };
}

async function rewriteConnectUnary(
  res: UniversalServerResponse,
  options: ResponseRewriteOptions,
): Promise<UniversalServerResponse> {
  const body = await readBody(res.body);
  const unchanged = { ...res, body: createAsyncIterable([body]) };
  let json = body;
  const encoding = res.header?.get(headerUnaryEncoding);
  if (encoding) {
    const compression = compressionOf(encoding, options);
    if (compression === undefined) return unchanged;
    json = await compression.decompress(body, options.readMaxBytes);
  }
  let error: ConnectError;
  try {
    error = errorFromJsonBytes(json, undefined, new ConnectError("", Code.Unknown));
  } catch {
    return unchanged;
  }
  const replacement = invalidRequestMessage(error);
  if (replacement === undefined) return unchanged;
  const rewritten = errorToJsonBytes(replacement, options.jsonOptions);
  const header = new Headers(res.header);
  header.delete(headerUnaryEncoding);
  header.set(headerUnaryContentLength, rewritten.byteLength.toString(10));
  return {
    ...res,
    status: codeToHttpStatus(replacement.code),
    header,
    body: createAsyncIterable([rewritten]),
  };
}

function compressionOf(
  name: string | null | undefined,
  options: ResponseRewriteOptions,
): Compression | undefined {
  return options.acceptCompression.find((c) => c.name === name);
}

async function readBody(body: AsyncIterable<Uint8Array> | undefined): Promise<Uint8Array> {
  if (body === undefined) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let length = 0;
  for await (const chunk of body) {
    chunks.push(chunk);
    length += chunk.byteLength;
  }
  if (chunks.length === 1) return chunks[0]!;
  const bytes = new Uint8Array(length);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}

// The one envelope (5-byte header: flags, big-endian length) that makes up
// `bytes`, or undefined when `bytes` is anything else.
function singleEnvelope(bytes: Uint8Array): { flags: number; data: Uint8Array } | undefined {
  if (bytes.byteLength < 5) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const length = view.getUint32(1);
  if (5 + length !== bytes.byteLength) return undefined;
  return { flags: bytes[0]!, data: bytes.subarray(5) };
}
