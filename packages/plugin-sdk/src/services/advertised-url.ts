/**
 * The URL to advertise for a listener URL: a wildcard address (`0.0.0.0`,
 * `::`) is replaced by `HOSTNAME` (else `localhost`), as connect-plugin-go
 * plugins build their `base_url`.
 * @private
 */
export function advertisedUrl(
  listening: string | undefined,
  env = process.env,
): string | undefined {
  if (listening === undefined) return undefined;
  const url = new URL(listening);
  if (url.hostname === "0.0.0.0" || url.hostname === "[::]") {
    url.hostname = env.HOSTNAME || "localhost";
  }
  return url.origin;
}
