/**
 * Generated descriptors of cpg's example services: the echo service the
 * router tests use and the sample plugins' services.
 *
 * @packageDocumentation
 */

export * from "./gen/cpg/examples/v1/cache_pb.js";
export * from "./gen/cpg/examples/v1/echo_pb.js";
export * from "./gen/cpg/examples/v1/kv_pb.js";
export * from "./gen/cpg/examples/v1/shortener_pb.js";
