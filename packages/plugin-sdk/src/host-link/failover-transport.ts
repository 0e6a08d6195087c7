import type { StreamResponse, Transport } from "@connectrpc/connect";
import type { HostReplicas } from "./host-replicas.js";

/**
 * Options of {@link createFailoverTransport}.
 * @private
 */
export interface FailoverTransportOptions {
  readonly replicas: HostReplicas;
  /** The transport for calls to one replica, by its base URL. Called once per URL. */
  readonly transportFor: (replicaUrl: string) => Transport;
  /** Whether an error means the replica is unreachable (and others should be tried). */
  readonly shouldFailOver: (error: unknown) => boolean;
}

/**
 * A transport over the replicas of a host: each call goes to the current
 * replica. A unary call that fails with an error `shouldFailOver` accepts
 * fails over to the next replica and is sent again, once on each other
 * replica, within the call's timeout and until its signal aborts; it then
 * fails with the last error. Such a call may reach the application twice
 * when a replica went away after receiving it. A stream is not re-sent (its
 * request messages may be consumed): when it cannot be opened, or breaks
 * because the replica became unreachable, the replica is failed over and the
 * caller's next stream opens on the next one.
 * @private
 */
export function createFailoverTransport(options: FailoverTransportOptions): Transport {
  const { replicas, shouldFailOver } = options;
  const transports = new Map<string, Transport>();
  const transportFor = (url: string) => {
    let transport = transports.get(url);
    if (transport === undefined) {
      transport = options.transportFor(url);
      transports.set(url, transport);
    }
    return transport;
  };

  return {
    unary(method, signal, timeoutMs, header, input, contextValues) {
      const deadline =
        timeoutMs !== undefined && timeoutMs > 0 ? Date.now() + timeoutMs : undefined;
      return replicas.call(
        (url) => {
          const remaining = deadline === undefined ? timeoutMs : Math.max(1, deadline - Date.now());
          return transportFor(url).unary(
            method,
            signal,
            remaining,
            new Headers(header),
            input,
            contextValues,
          );
        },
        (error) =>
          signal?.aborted !== true &&
          (deadline === undefined || Date.now() < deadline) &&
          shouldFailOver(error),
      );
    },
    async stream(method, signal, timeoutMs, header, input, contextValues) {
      const url = replicas.current;
      const failed = (error: unknown) => {
        if (signal?.aborted !== true && shouldFailOver(error)) replicas.failover(url);
      };
      let response: StreamResponse<typeof method.input, typeof method.output>;
      try {
        response = await transportFor(url).stream(
          method,
          signal,
          timeoutMs,
          header,
          input,
          contextValues,
        );
      } catch (error) {
        failed(error);
        throw error;
      }
      const messages = response.message;
      return {
        ...response,
        message: (async function* () {
          try {
            yield* messages;
          } catch (error) {
            failed(error);
            throw error;
          }
        })(),
      };
    },
  };
}
