/**
 * @cpg/test-utils: helpers shared by the tests of cpg packages. Private, never
 * published; packages import its TypeScript sources directly.
 *
 * - Certificates: {@link createTestCa}, {@link createTestPki} (PEM strings).
 * - Servers: {@link listenOnFreePort} (127.0.0.1, port 0, complete close).
 * - Redis: {@link startRedis} (a throw-away `redis-server` on 127.0.0.1).
 * - Waiting with a deadline instead of sleeping: {@link waitFor}, {@link waitForEvent}.
 * - Process warnings raised by a piece of code: {@link processWarnings}.
 *
 * @packageDocumentation
 */

export type { StartProcessOptions, TestProcess } from "./child-process.js";
export { startProcess } from "./child-process.js";
export type { AnyHttpServer, TestServer } from "./node-test-server.js";
export { listenOnFreePort } from "./node-test-server.js";
export { processWarnings } from "./process-warnings.js";
export type { StartRedisOptions, TestRedis } from "./redis-server.js";
export { REDIS_SERVER, redisAvailable, skipRedisTests, startRedis } from "./redis-server.js";
export type {
  IssueCertificateOptions,
  TestCa,
  TestCaOptions,
  TestCertificate,
} from "./test-ca.js";
export { createTestCa } from "./test-ca.js";
export type { TestPki } from "./test-pki.js";
export { createTestPki, TEST_SPIFFE_ID } from "./test-pki.js";
export type { EventSource, WaitForEventOptions, WaitOptions } from "./wait-for.js";
export { waitFor, waitForEvent } from "./wait-for.js";
