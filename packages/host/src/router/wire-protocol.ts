/**
 * The RPC protocol of a request, from its content type.
 */
export type WireProtocol = "connect-unary" | "connect-stream" | "grpc" | "grpc-web";

/**
 * Tells the protocol of a request from its `content-type` (Connect unary
 * GET requests have none).
 */
export function wireProtocolOf(contentType: string | undefined): WireProtocol {
  const type = (contentType ?? "").toLowerCase();
  if (type.startsWith("application/grpc-web")) return "grpc-web";
  if (type.startsWith("application/grpc")) return "grpc";
  if (type.startsWith("application/connect+")) return "connect-stream";
  return "connect-unary";
}
