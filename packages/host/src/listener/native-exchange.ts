import { EventEmitter } from "node:events";
import type * as net from "node:net";
import type { H2RequestHandlers } from "../h2-server/h2-request-handlers.js";
import type { H2ServerStream } from "../h2-server/h2-server-stream.js";

type HeaderValue = string | string[] | number | undefined;

/**
 * The request of a call served on the host's own HTTP/2 stream, with the
 * members of a Node request the router and the lean watch handler read:
 * `method`, `url`, `headers` (lowercase, pseudo-headers included as in
 * Node's HTTP/2 requests; a repeated name gives a list), `socket` (the
 * caller's connection, for its address and client certificate),
 * `httpVersionMajor`, and the body as `data` and `end` events (with
 * `pause`/`resume` as flow control) or by async iteration. It has no
 * `stream`: the answer goes through the {@link NativeResponse}.
 */
export class NativeRequest extends EventEmitter {
  readonly httpVersionMajor = 2;
  readonly stream = undefined;
  readonly method: string;
  url: string;
  readonly headers: Record<string, string | string[]>;
  readonly socket: net.Socket;
  private readonly h2: H2ServerStream;
  // Body that came before anyone listened (a handler that reads the body
  // later, after awaiting something), and whether it ended or was cut off.
  private early: Buffer[] = [];
  private ended = false;
  private aborted = false;

  constructor(h2: H2ServerStream, socket: net.Socket) {
    super();
    this.h2 = h2;
    this.socket = socket;
    const headers: Record<string, string | string[]> = {};
    let method = "GET";
    let url = "/";
    const fields = h2.fields;
    for (let i = 0; i < fields.length; i += 2) {
      const name = fields[i]!;
      const value = fields[i + 1]!;
      if (name === ":method") method = value;
      else if (name === ":path") url = value;
      const seen = headers[name];
      if (seen === undefined) headers[name] = value;
      else if (Array.isArray(seen)) seen.push(value);
      else headers[name] = [seen, value];
    }
    this.method = method;
    this.url = url;
    this.headers = headers;
  }

  /** Stops granting the caller flow-control window for the body. */
  pause(): this {
    this.h2.pause();
    return this;
  }

  /** Grants the caller the window used while paused. */
  resume(): this {
    this.h2.resume();
    return this;
  }

  /** @private A chunk of the body: emitted to listeners, or kept until one reads. */
  deliver(chunk: Buffer): void {
    if (this.listenerCount("data") > 0) this.emit("data", chunk);
    else this.early.push(Buffer.from(chunk));
  }

  /** @private The end of the body. */
  finish(): void {
    this.ended = true;
    if (this.listenerCount("end") > 0) this.emit("end");
  }

  /** @private The stream is over before the body ended. */
  abort(): void {
    if (!this.ended) this.aborted = true;
  }

  /** The body, chunk by chunk; throws when the caller resets the stream before its end. */
  [Symbol.asyncIterator](): AsyncIterator<Buffer> {
    const queue: Buffer[] = this.early;
    this.early = [];
    let ended = this.ended;
    let aborted = this.aborted;
    let wake: (() => void) | undefined;
    const onData = (chunk: Buffer) => {
      // Copied: the chunk is a view into the socket's read buffer.
      queue.push(Buffer.from(chunk));
      wake?.();
    };
    const onEnd = () => {
      ended = true;
      wake?.();
    };
    const onClose = () => {
      aborted = !ended;
      wake?.();
    };
    const stop = () => {
      this.off("data", onData);
      this.off("end", onEnd);
      this.off("close", onClose);
    };
    this.on("data", onData);
    this.on("end", onEnd);
    this.on("close", onClose);
    return {
      next: async (): Promise<IteratorResult<Buffer>> => {
        for (;;) {
          const chunk = queue.shift();
          if (chunk !== undefined) return { value: chunk, done: false };
          if (ended) {
            stop();
            return { value: undefined, done: true };
          }
          if (aborted) {
            stop();
            throw new Error("the caller reset the stream before the request ended");
          }
          await new Promise<void>((resolve) => {
            wake = resolve;
          });
          wake = undefined;
        }
      },
      return: async (): Promise<IteratorResult<Buffer>> => {
        stop();
        return { value: undefined, done: true };
      },
    };
  }
}

/**
 * The response of a call served on the host's own HTTP/2 stream, with the
 * members of a Node response the router uses: `writeHead`, `write` (false:
 * wait for `drain`), `addTrailers`, `end`, `headersSent`, `writableEnded`,
 * `writableFinished` and the `close` event. The headers leave with the
 * first body chunk or the end: a response ended without body or trailers
 * is one HEADERS frame that ends the stream (a gRPC trailers-only answer).
 */
export class NativeResponse extends EventEmitter {
  statusCode = 200;
  headersSent = false;
  writableEnded = false;
  writableFinished = false;
  private readonly h2: H2ServerStream;
  private head: string[] | undefined = undefined;
  private trailers: string[] | undefined = undefined;

  constructor(h2: H2ServerStream) {
    super();
    this.h2 = h2;
  }

  /** True once the stream is over (completed or reset). */
  get destroyed(): boolean {
    return this.h2.isClosed;
  }

  /** Sets the status and headers; they are sent with the first chunk or the end. */
  writeHead(status: number, headers: Record<string, HeaderValue> = {}): this {
    if (this.headersSent) return this;
    this.statusCode = status;
    this.headersSent = true;
    const fields = [":status", String(status)];
    appendFields(fields, headers);
    this.head = fields;
    return this;
  }

  /** Sends a chunk of the body; false when the caller should wait for `drain`. */
  write(chunk: Buffer | string): boolean {
    if (this.writableEnded || this.h2.isClosed) return true;
    this.sendHead(false);
    return this.h2.write(typeof chunk === "string" ? Buffer.from(chunk) : chunk);
  }

  /** Trailers sent when the response ends. */
  addTrailers(headers: Record<string, HeaderValue>): void {
    const fields: string[] = this.trailers ?? [];
    appendFields(fields, headers);
    this.trailers = fields;
  }

  /** Ends the response, with a last chunk if given, then its trailers. */
  end(chunk?: Buffer | string): this {
    if (this.writableEnded) return this;
    this.writableEnded = true;
    if (this.h2.isClosed) return this;
    const body =
      chunk === undefined ? undefined : typeof chunk === "string" ? Buffer.from(chunk) : chunk;
    const bodyless = (body === undefined || body.length === 0) && this.trailers === undefined;
    if (!this.h2.headersSent && bodyless) {
      this.sendHead(true);
      return this;
    }
    this.sendHead(false);
    if (body !== undefined && body.length > 0) this.h2.write(body);
    this.h2.end(this.trailers);
    return this;
  }

  private sendHead(endStream: boolean): void {
    if (this.h2.headersSent) return;
    if (this.head === undefined) this.writeHead(this.statusCode);
    this.h2.respond(this.head!, endStream);
  }
}

/**
 * A {@link NativeRequest} and {@link NativeResponse} for `stream`, and the
 * stream's handlers that drive them. `close` is emitted on both once the
 * stream is over: completed (`writableFinished` is then true) or reset.
 */
export function nativeExchange(
  stream: H2ServerStream,
  socket: net.Socket,
): { req: NativeRequest; res: NativeResponse; handlers: H2RequestHandlers } {
  const req = new NativeRequest(stream, socket);
  const res = new NativeResponse(stream);
  let closed = false;
  // As Node's, on a later tick: never from inside the write or end that completed the stream.
  const emitClose = () => {
    res.emit("close");
    req.emit("close");
  };
  const close = () => {
    if (closed) return;
    closed = true;
    process.nextTick(emitClose);
  };
  return {
    req,
    res,
    handlers: {
      onData: (chunk) => req.deliver(chunk),
      onEnd: () => req.finish(),
      onReset() {
        req.abort();
        close();
      },
      onDrain: () => res.emit("drain"),
      onComplete() {
        res.writableFinished = true;
        close();
      },
    },
  };
}

function appendFields(fields: string[], headers: Record<string, HeaderValue>): void {
  for (const name of Object.keys(headers)) {
    const value = headers[name];
    if (value === undefined) continue;
    const lower = name.toLowerCase();
    if (Array.isArray(value)) for (const v of value) fields.push(lower, v);
    else fields.push(lower, String(value));
  }
}
