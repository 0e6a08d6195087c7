import type * as http from "node:http";
import type * as http2 from "node:http2";
import { Code } from "@connectrpc/connect";
import type { HostSpan } from "../observability/host-tracer.js";
import { codeName, writeRpcError } from "./error-response.js";
import type { WireProtocol } from "./wire-protocol.js";

/** A request the router handles: HTTP/1.1 or HTTP/2 (compatibility API). */
export type RouterRequest = http.IncomingMessage | http2.Http2ServerRequest;
/** Its response. */
export type RouterResponse = http.ServerResponse | http2.Http2ServerResponse;

/**
 * What a {@link RoutedCall} reports to its router once it knows its provider.
 */
export interface RoutedCallSink {
  /** The provider answered: its consecutive transport failures start over. */
  answered(providerId: string): void;
  /** A transport failure towards the provider (counts towards taking it out). */
  transportFailed(providerId: string): void;
  /** The call ended (the caller's response closed). */
  completed(call: RoutedCall): void;
}

const CANCELED = codeName(Code.Canceled);
const UNAVAILABLE = codeName(Code.Unavailable);

/**
 * One call through the router, from admission to the close of the caller's
 * response: the code it ends with, its span, whether the caller went away,
 * and what the forwarder must undo when the caller's response closes.
 * One object per call; its methods live on the prototype, so a call costs
 * no closures beyond the listeners the forwarders register.
 */
export class RoutedCall {
  /** Connect code name reported in `route.completed` and on the span. */
  code = "ok";
  /** The caller went away before the response ended: what follows is not the provider's fault. */
  callerGone = false;
  /** The span of the call, until it ends. */
  span: HostSpan | undefined = undefined;
  /** Set once the call is admitted and forwarded to this provider. */
  providerId: string | undefined = undefined;
  serviceType = "";
  procedure = "";
  callerId = "";
  /** What the forwarder undoes when the caller's response closes (timer, upstream stream). */
  release: (() => void) | undefined = undefined;
  private sink: RoutedCallSink | undefined = undefined;

  constructor(
    readonly req: RouterRequest,
    readonly res: RouterResponse,
    readonly protocol: WireProtocol,
    readonly contentType: string | undefined,
    readonly started: number,
    private readonly leaveDrain: () => void,
  ) {}

  /** Ends the span once, with the first code known. */
  endSpan(code: string): void {
    const s = this.span;
    this.span = undefined;
    s?.end(code);
  }

  /** Answers with an RPC error in the caller's protocol (and ends the span with its code). */
  fail(code: Code, message: string): void {
    this.endSpan(codeName(code));
    writeRpcError(this.res, this.protocol, code, message, this.contentType);
  }

  /** Fails with `unavailable` and reports it as the call's code. */
  unavailable(message: string): void {
    this.code = UNAVAILABLE;
    this.fail(Code.Unavailable, message);
  }

  /** Admits the call to `providerId`: from now on its end is reported to `sink`. */
  forward(providerId: string, sink: RoutedCallSink): void {
    this.providerId = providerId;
    this.sink = sink;
  }

  /** The provider answered. */
  answered(): void {
    this.sink?.answered(this.providerId!);
  }

  /** A transport failure towards the provider. */
  transportFailed(): void {
    this.sink?.transportFailed(this.providerId!);
  }

  /** The caller's response closed (listener of its `close` event). */
  closed(): void {
    this.leaveDrain();
    const sink = this.sink;
    if (sink === undefined) return;
    if (!this.res.writableFinished) {
      this.callerGone = true;
      if (this.code === "ok") this.code = CANCELED;
    }
    this.endSpan(this.code);
    sink.completed(this);
    this.release?.();
  }
}
