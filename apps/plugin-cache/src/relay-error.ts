import { Code, ConnectError } from "@connectrpc/connect";

/**
 * Rethrows an error of a call to another plugin as this plugin's answer.
 * It keeps the code, message and details, but none of the upstream
 * response's headers (its metadata holds hop-by-hop headers such as
 * `keep-alive`, which an HTTP/2 response must not carry). `not_found`
 * becomes `unavailable`: the services called here never answer `not_found`
 * themselves, so it means the host has no provider for them right now.
 */
export function relayError(error: unknown): never {
  const upstream = ConnectError.from(error);
  const code = upstream.code === Code.NotFound ? Code.Unavailable : upstream.code;
  const relayed = new ConnectError(upstream.rawMessage, code, undefined, undefined, upstream);
  relayed.details.push(...upstream.details);
  throw relayed;
}
