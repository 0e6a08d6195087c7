/**
 * Services any caller may use without a runtime identity: the handshake (it
 * is how identities are obtained) and the health services (probes). Every
 * other host procedure needs `X-Plugin-Runtime-ID` and a valid runtime token.
 */
export const PUBLIC_SERVICES: ReadonlySet<string> = new Set([
  "connectplugin.v1.HandshakeService",
  "connectplugin.health.v1.HealthService",
  "grpc.health.v1.Health",
]);

/**
 * Tells whether a call to a service (by its fully-qualified type name) needs
 * no runtime identity.
 */
export function isPublicService(serviceTypeName: string): boolean {
  return PUBLIC_SERVICES.has(serviceTypeName);
}
