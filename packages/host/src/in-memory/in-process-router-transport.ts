import {
  create,
  type DescMessage,
  type DescMethod,
  isMessage,
  type MessageShape,
} from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  type ContextValues,
  createContextValues,
  type Interceptor,
  type StreamRequest,
  type StreamResponse,
  type Transport,
  type UnaryRequest,
  type UnaryResponse,
} from "@connectrpc/connect";
import {
  AUTHORIZATION_HEADER,
  CALLER_ID_HEADER,
  parseServiceRoute,
  RUNTIME_ID_HEADER,
} from "@cpg/protocol";
import { codeName } from "../router/error-response.js";
import { chain, NEVER_ABORTED, type ServiceDispatch } from "./service-dispatch.js";

/** A call the router admitted to an in-process provider. */
export interface AdmittedCall {
  /** The caller's runtime id (becomes `X-Plugin-Caller-ID`). */
  readonly callerId: string;
  /** The provider, after aliases (a replaced provider's successor). */
  readonly providerId: string;
  /** Deadline cap of the router, in milliseconds. */
  readonly maxTimeoutMs: number;
  /** Reports the end of the call with its Connect code name (`"ok"`, `"not_found"`...). */
  end(code: string): void;
}

/** The router's side of in-process calls. */
export interface InProcessRoutes {
  /** The provider a call to `providerId` goes to now (aliases applied). */
  resolve(serviceType: string, providerId: string): string;
  /**
   * Admits a call exactly as the network router does (caller token, rate
   * limit, caller policy, provider registered and not unhealthy, draining)
   * or throws the `ConnectError` the caller gets.
   */
  admit(header: Headers, serviceType: string, providerId: string, procedure: string): AdmittedCall;
  /** The dispatch of an in-process provider, if `runtimeId` is one. */
  dispatch(runtimeId: string): ServiceDispatch | undefined;
}

/** Options of {@link createInProcessRouterTransport}. */
export interface InProcessRouterTransportOptions {
  /** Endpoint URL from discovery: `/services/{type}/{provider}`. */
  readonly endpointUrl: string;
  /** The caller's interceptors (its credentials), run first. */
  readonly interceptors: readonly Interceptor[];
  readonly routes: InProcessRoutes;
}

/**
 * A transport for an in-process plugin's calls through the host's router. A
 * call to an in-process provider is admitted by the router, then handed to
 * the provider's implementation through its interceptors, without
 * serializing a message or opening a socket. Should the endpoint stop being
 * in process (its provider was replaced by one that is not), calls fail with
 * `unavailable`, and the SDK discovers the provider again and takes the
 * network route.
 */
export function createInProcessRouterTransport(
  options: InProcessRouterTransportOptions,
): Transport {
  const route = parseServiceRoute(`${options.endpointUrl}/x`);
  if (route === undefined) {
    throw new ConnectError(
      `not a router endpoint URL: ${JSON.stringify(options.endpointUrl)}`,
      Code.InvalidArgument,
    );
  }
  const { serviceType } = route;
  const interceptors = [...options.interceptors];

  const notInProcess = () =>
    new ConnectError(
      `provider "${route.providerId}" of "${serviceType}" is no longer in process: discover it again`,
      Code.Unavailable,
    );

  /** Admits the call and builds what the provider sees. */
  const admit = (req: UnaryRequest | StreamRequest, timeoutMs: number | undefined) => {
    const procedure = `/${req.method.parent.typeName}/${req.method.name}`;
    const admitted = options.routes.admit(req.header, serviceType, route.providerId, procedure);
    // The request's headers are this call's own copy: the provider gets them
    // without the caller's credentials, with the caller's id.
    const header = req.header;
    header.delete(AUTHORIZATION_HEADER);
    header.delete(RUNTIME_ID_HEADER);
    header.set(CALLER_ID_HEADER, admitted.callerId);
    const capped = timeoutMs === undefined ? undefined : Math.min(timeoutMs, admitted.maxTimeoutMs);
    return {
      admitted,
      call: {
        header,
        signal: req.signal,
        timeoutMs: capped,
        contextValues: createContextValues(),
      },
    };
  };

  // What the caller's interceptors see besides the message.
  const callerRequest = (
    method: DescMethod,
    signal: AbortSignal | undefined,
    header: ConstructorParameters<typeof Headers>[0],
    contextValues: ContextValues | undefined,
  ) => ({
    service: method.parent,
    method,
    requestMethod: "POST",
    url: `memory://host${options.endpointUrl}/${method.parent.typeName}/${method.name}`,
    signal: signal ?? NEVER_ABORTED,
    header: new Headers(header),
    contextValues: contextValues ?? createContextValues(),
  });

  return {
    async unary(method, signal, timeoutMs, header, input, contextValues) {
      const providerId = options.routes.resolve(serviceType, route.providerId);
      const dispatch = options.routes.dispatch(providerId);
      if (dispatch === undefined) throw notInProcess();
      const run = chain(interceptors, async (req: UnaryRequest): Promise<UnaryResponse> => {
        const { admitted, call } = admit(req, timeoutMs);
        try {
          const res = await dispatch.unary(method, req.message as never, call);
          admitted.end("ok");
          return res as UnaryResponse;
        } catch (error) {
          const e = ConnectError.from(error);
          admitted.end(codeName(e.code));
          throw e;
        }
      });
      return (await run({
        stream: false,
        ...callerRequest(method, signal, header, contextValues),
        message: asMessage(method.input, input),
      } as UnaryRequest)) as never;
    },

    async stream(method, signal, timeoutMs, header, input, contextValues) {
      const providerId = options.routes.resolve(serviceType, route.providerId);
      const dispatch = options.routes.dispatch(providerId);
      if (dispatch === undefined) throw notInProcess();
      const run = chain(interceptors, async (req: StreamRequest): Promise<StreamResponse> => {
        const { admitted, call } = admit(req, timeoutMs);
        let res: StreamResponse;
        try {
          res = (await dispatch.stream(method, req.message as never, call)) as StreamResponse;
        } catch (error) {
          const e = ConnectError.from(error);
          admitted.end(codeName(e.code));
          throw e;
        }
        // A cancelled stream may never be read to its end (or at all): count
        // it out when the caller aborts, as the network router does when the
        // caller's stream closes.
        const signal = req.signal;
        const cancel = () => admitted.end(codeName(Code.Canceled));
        if (signal.aborted) cancel();
        else if (signal !== NEVER_ABORTED) signal.addEventListener("abort", cancel, { once: true });
        return { ...res, message: reportingEnd(res.message, admitted, signal, cancel) };
      });
      return (await run({
        stream: true,
        ...callerRequest(method, signal, header, contextValues),
        message: messagesOf(method.input, input),
      } as StreamRequest)) as never;
    },
  };
}

function asMessage<M extends DescMessage>(schema: M, value: unknown): MessageShape<M> {
  return isMessage(value, schema) ? value : create(schema, value as never);
}

async function* messagesOf<M extends DescMessage>(
  schema: M,
  values: AsyncIterable<unknown>,
): AsyncGenerator<MessageShape<M>> {
  for await (const value of values) yield asMessage(schema, value);
}

async function* reportingEnd<T>(
  messages: AsyncIterable<T>,
  admitted: AdmittedCall,
  signal: AbortSignal,
  cancel: () => void,
): AsyncGenerator<T> {
  let code = "ok";
  try {
    yield* messages;
  } catch (error) {
    code = codeName(ConnectError.from(error).code);
    throw error;
  } finally {
    signal.removeEventListener("abort", cancel);
    admitted.end(signal.aborted && code === "ok" ? codeName(Code.Canceled) : code);
  }
}
