/**
 * Pieces that `@cpg/host` shares with the plugin SDK. Not part of the public
 * API: they may change in any release.
 *
 * @packageDocumentation
 * @private
 */

export type { EventStream } from "./events/event-stream.js";
export { createEventStream } from "./events/event-stream.js";
export { registerHealthServices } from "./health/health-services.js";
export type { ServingState, ServingStatusRegistry } from "./health/serving-status.js";
export { createServingStatusRegistry } from "./health/serving-status.js";
export type { Drain, DrainOptions } from "./server/drain.js";
export { createDrain } from "./server/drain.js";
export { CONNECTION_HEADERS, sanitizeErrorMetadata } from "./server/error-metadata.js";
export type {
  NodeConnectAdapter,
  NodeConnectAdapterOptions,
} from "./server/node-connect-adapter.js";
export { createNodeConnectAdapter } from "./server/node-connect-adapter.js";
export type {
  AcceptedHttp2Connection,
  Http2ConnectionAcceptor,
  ListenerTlsOptions,
  ListenOptions,
  NodeListener,
  NodeRequestHandler,
} from "./server/node-listener.js";
export { listen } from "./server/node-listener.js";
export { handleProbe } from "./server/probes.js";
export type { StreamEnd } from "./server/stream-end.js";
export { onStreamEnd, STREAM_END_HOOKS } from "./server/stream-end.js";
