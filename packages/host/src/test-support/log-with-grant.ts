/**
 * Calls the built-in logger capability with `grant` through the host at
 * `hostUrl` (whichever host issued the grant), as Connect JSON; returns the
 * HTTP status.
 */
export async function logWithGrant(
  hostUrl: string,
  grant: { readonly endpointUrl: string; readonly bearerToken: string },
  message: string,
): Promise<number> {
  const path = new URL(grant.endpointUrl, hostUrl).pathname;
  const response = await fetch(`${hostUrl}${path}/capability.logger.v1.Logger/Log`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${grant.bearerToken}` },
    body: JSON.stringify({ message }),
  });
  await response.arrayBuffer();
  return response.status;
}
