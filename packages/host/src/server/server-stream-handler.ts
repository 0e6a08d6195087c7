import type * as http from "node:http";
import type * as http2 from "node:http2";
import {
  create,
  type DescMessage,
  type DescMethodServerStreaming,
  fromBinary,
  isMessage,
  type MessageInitShape,
  type MessageShape,
  toBinary,
} from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  type ContextValues,
  createHandlerContext,
  type HandlerContext,
  type Interceptor,
  type StreamRequest,
  type StreamResponse,
} from "@connectrpc/connect";
import { requestTimeoutMs } from "../router/deadline.js";
import { codeName } from "../router/error-response.js";
import { pushEntry, pushTo } from "./pushed-messages.js";

type Request = http.IncomingMessage | http2.Http2ServerRequest;
type Response = http.ServerResponse | http2.Http2ServerResponse;

/**
 * The two wire forms the lean path serves; everything else (gRPC-Web, JSON,
 * compressed requests) goes to the regular Connect adapter.
 */
type LeanProtocol = "grpc" | "connect";

/**
 * Options of {@link createServerStreamHandler}.
 */
export interface ServerStreamHandlerOptions<I extends DescMessage, O extends DescMessage> {
  /** The server-streaming method served. */
  readonly method: DescMethodServerStreaming<I, O>;
  /** Its implementation, exactly as registered on the Connect router. */
  readonly impl: (
    request: MessageShape<I>,
    context: HandlerContext,
  ) => AsyncIterable<MessageShape<O>>;
  /** The interceptors every call of the host goes through, in order. */
  readonly interceptors: readonly Interceptor[];
  /** Context values of a request (peer certificate, client address). */
  readonly contextValues: (req: Request) => ContextValues;
  /** Largest request message accepted, in bytes. */
  readonly readMaxBytes: number;
  /** Aborts every stream at shutdown (as the Connect adapter's shutdown signal). */
  readonly shutdownSignal?: AbortSignal;
}

/**
 * A request handler that serves one server-streaming method over gRPC
 * (HTTP/2) and the Connect streaming protocol, binary codec, without
 * Connect's generic streaming pipeline: the request is one envelope, the
 * call goes through the same interceptors and the same implementation as on
 * the Connect router, and each response message is written as one envelope.
 *
 * It exists for long-lived, mostly idle streams such as `WatchService`, where
 * the generic pipeline's per-stream state (a dozen async generators) costs
 * about 40 KiB per open stream and a change fans out slowly. It returns
 * false, touching nothing, for any request it does not serve (another path,
 * gRPC-Web, JSON, a compressed request, gRPC over HTTP/1.1), so the caller
 * hands it to the Connect adapter.
 */
export function createServerStreamHandler<I extends DescMessage, O extends DescMessage>(
  options: ServerStreamHandlerOptions<I, O>,
): (req: Request, res: Response) => boolean {
  const { method } = options;
  const path = `/${method.parent.typeName}/${method.name}`;
  // Encodings of response messages, so that one message sent to many streams
  // (a watch fan-out) is encoded once.
  const frames = new WeakMap<object, Buffer>();
  const frameOf = (message: unknown): Buffer => {
    let frame = frames.get(message as object);
    if (frame === undefined) {
      const value = isMessage(message, method.output)
        ? message
        : create(method.output, message as MessageInitShape<O>);
      frame = envelope(0, toBinary(method.output, value));
      frames.set(message as object, frame);
    }
    return frame;
  };
  // The innermost `next`: the implementation, as Connect invokes it.
  const invoke = async (req: StreamRequest<I, O>): Promise<StreamResponse<I, O>> => {
    const context = createHandlerContext({
      service: method.parent,
      method,
      protocolName: req.header.get("content-type")?.startsWith("application/grpc")
        ? "grpc"
        : "connect",
      requestMethod: req.requestMethod,
      url: req.url,
      requestSignal: req.signal,
      requestHeader: req.header,
      contextValues: req.contextValues,
    });
    const input = await single(req.message);
    return {
      stream: true,
      service: method.parent,
      method,
      header: context.responseHeader,
      trailer: context.responseTrailer,
      message: options.impl(input, context),
    };
  };
  const call = options.interceptors.reduceRight<
    (req: StreamRequest<I, O>) => Promise<StreamResponse<I, O>>
  >((next, interceptor) => interceptor(next as never) as never, invoke);

  return (req, res) => {
    if (req.method !== "POST" || req.url !== path) return false;
    const protocol = leanProtocolOf(req);
    if (protocol === undefined) return false;
    void serve(req, res, protocol);
    return true;
  };

  async function serve(req: Request, res: Response, protocol: LeanProtocol) {
    const contentType = req.headers["content-type"] as string;
    const abort = new AbortController();
    const onClose = () => {
      if (!res.writableEnded)
        abort.abort(new ConnectError("stream canceled by the client", Code.Canceled));
    };
    res.once("close", onClose);
    const onShutdown = () =>
      abort.abort(new ConnectError("the host is shutting down", Code.Unavailable));
    if (options.shutdownSignal?.aborted) onShutdown();
    else options.shutdownSignal?.addEventListener("abort", onShutdown, { once: true });
    const timer = deadlineTimer(req, abort);
    let response: StreamResponse<I, O> | undefined;
    let headersSent = false;
    // Sent with the first message (or the end of the call), not before, so that
    // the implementation can still set response headers, as Connect does.
    const sendHeaders = () => {
      if (headersSent) return;
      headersSent = true;
      const out: Record<string, string> = { "content-type": contentType };
      response?.header.forEach((value, key) => {
        out[key] = value;
      });
      res.writeHead(200, out);
    };
    try {
      response = await call({
        stream: true,
        service: method.parent,
        method,
        requestMethod: "POST",
        url: `${req.headers[":scheme"] ?? "http"}://${req.headers[":authority"] ?? req.headers.host ?? "localhost"}${path}`,
        signal: abort.signal,
        header: requestHeaders(req),
        contextValues: options.contextValues(req),
        // Read only once the interceptors let the call through, as Connect does.
        message: requestMessage(req, options.readMaxBytes, method.input),
      });
      const push = pushEntry(response.message);
      if (push !== undefined) {
        // Cancelled, timed out or shut down while the interceptors ran: the
        // pushed stream starts on an aborted signal and ends at once.
        await push(pushTo(res, frameOf, sendHeaders, abort.signal));
      } else {
        const iterator = response.message[Symbol.asyncIterator]();
        const stop = () => void iterator.return?.()?.catch(() => {});
        abort.signal.addEventListener("abort", stop, { once: true });
        let completed = false;
        try {
          // Cancelled, timed out or shut down while the interceptors ran.
          if (abort.signal.aborted) throw abort.signal.reason;
          for (;;) {
            const next = await iterator.next();
            if (next.done) {
              completed = true;
              break;
            }
            if (abort.signal.aborted) break;
            const frame = frameOf(next.value);
            sendHeaders();
            if (!(res as http.ServerResponse).write(frame)) await drained(res, abort.signal);
          }
        } finally {
          abort.signal.removeEventListener("abort", stop);
          // Left early (abort, a message that does not encode): the
          // implementation's finally blocks run now.
          if (!completed) stop();
        }
      }
      if (abort.signal.aborted) throw abort.signal.reason;
      finish(res, protocol, undefined, response.trailer, sendHeaders);
    } catch (error) {
      // As Connect: only a ConnectError reaches the client as it is.
      const connectError =
        error instanceof ConnectError
          ? error
          : new ConnectError("internal error", Code.Internal, undefined, undefined, error);
      finish(res, protocol, connectError, response?.trailer, sendHeaders);
    } finally {
      clearTimeout(timer);
      res.off("close", onClose);
      options.shutdownSignal?.removeEventListener("abort", onShutdown);
      // The call is over: its signal aborts, as Connect's context signal does.
      if (!abort.signal.aborted) abort.abort();
    }
  }
}

function leanProtocolOf(req: Request): LeanProtocol | undefined {
  const contentType = req.headers["content-type"];
  if (contentType === "application/grpc" || contentType === "application/grpc+proto") {
    // gRPC needs HTTP/2 trailers; a compressed request takes the regular path.
    if (req.httpVersionMajor !== 2) return undefined;
    const encoding = req.headers["grpc-encoding"];
    return encoding === undefined || encoding === "identity" ? "grpc" : undefined;
  }
  if (contentType === "application/connect+proto") {
    const encoding = req.headers["connect-content-encoding"];
    return encoding === undefined || encoding === "identity" ? "connect" : undefined;
  }
  return undefined;
}

const single = async <T>(messages: AsyncIterable<T>): Promise<T> => {
  for await (const m of messages) return m;
  throw new ConnectError("protocol error: missing input message", Code.InvalidArgument);
};

async function* requestMessage<I extends DescMessage>(
  req: Request,
  readMaxBytes: number,
  schema: I,
): AsyncIterable<MessageShape<I>> {
  yield await readRequest(req, readMaxBytes, schema);
}

function requestHeaders(req: Request): Headers {
  const header = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (name.startsWith(":") || value === undefined) continue;
    if (Array.isArray(value)) for (const v of value) header.append(name, v);
    else header.set(name, value);
  }
  return header;
}

/** Reads the single request envelope, within `readMaxBytes`. */
async function readRequest<I extends DescMessage>(
  req: Request,
  readMaxBytes: number,
  schema: I,
): Promise<MessageShape<I>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > readMaxBytes + 5) {
      throw new ConnectError(
        `message size is larger than configured readMaxBytes ${readMaxBytes}`,
        Code.ResourceExhausted,
      );
    }
    chunks.push(chunk);
  }
  const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
  if (body.length < 5) {
    throw new ConnectError("protocol error: missing input message", Code.InvalidArgument);
  }
  const flags = body[0]!;
  const length = body.readUInt32BE(1);
  if (flags !== 0) {
    throw new ConnectError(
      `protocol error: unexpected envelope flags ${flags} (compressed requests must declare their encoding)`,
      Code.InvalidArgument,
    );
  }
  if (body.length !== 5 + length) {
    throw new ConnectError(
      "protocol error: the request must be exactly one complete message",
      Code.InvalidArgument,
    );
  }
  try {
    return fromBinary(schema, body.subarray(5));
  } catch (error) {
    throw new ConnectError(
      `invalid request message: ${error instanceof Error ? error.message : String(error)}`,
      Code.InvalidArgument,
    );
  }
}

function envelope(flags: number, data: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(5 + data.length);
  out[0] = flags;
  out.writeUInt32BE(data.length, 1);
  out.set(data, 5);
  return out;
}

function drained(res: Response, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off("drain", done);
      signal.removeEventListener("abort", done);
      resolve();
    };
    res.once("drain", done);
    signal.addEventListener("abort", done, { once: true });
  });
}

function deadlineTimer(
  req: Request,
  abort: AbortController,
): ReturnType<typeof setTimeout> | undefined {
  const timeoutMs = requestTimeoutMs(req.headers);
  if (timeoutMs === undefined) return undefined;
  if (Number.isNaN(timeoutMs)) {
    abort.abort(new ConnectError("malformed deadline header", Code.InvalidArgument));
    return undefined;
  }
  const timer = setTimeout(
    () => abort.abort(new ConnectError("the operation timed out", Code.DeadlineExceeded)),
    timeoutMs,
  );
  timer.unref();
  return timer;
}

/** Ends the response: gRPC trailers, or the Connect end-of-stream message. */
function finish(
  res: Response,
  protocol: LeanProtocol,
  error: ConnectError | undefined,
  trailer: Headers | undefined,
  sendHeaders: () => void,
) {
  if (res.writableEnded || res.destroyed) return;
  // The context's trailers, then the error's metadata (as Connect sends them).
  const metadata = new Headers(trailer);
  error?.metadata.forEach((value, key) => {
    metadata.append(key, value);
  });
  sendHeaders();
  if (protocol === "grpc") {
    const trailers: Record<string, string> = {};
    metadata.forEach((value, key) => {
      trailers[key] = value;
    });
    trailers["grpc-status"] = String(error ? error.code : 0);
    if (error) trailers["grpc-message"] = encodeURIComponent(error.rawMessage).replace(/%20/g, " ");
    res.addTrailers(trailers);
    res.end();
    return;
  }
  const end: { error?: { code: string; message: string }; metadata?: Record<string, string[]> } =
    {};
  if (error) end.error = { code: codeName(error.code), message: error.rawMessage };
  const meta: Record<string, string[]> = {};
  let any = false;
  metadata.forEach((value, key) => {
    meta[key] = [value];
    any = true;
  });
  if (any) end.metadata = meta;
  res.end(envelope(0b10, Buffer.from(JSON.stringify(end))));
}
