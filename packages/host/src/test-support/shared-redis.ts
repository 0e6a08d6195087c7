import { skipRedisTests, startRedis, type TestRedis } from "@cpg/test-utils";
import { afterAll, beforeAll } from "vitest";

/**
 * One throw-away redis-server for the tests of a file (started before them,
 * stopped after them), and a fresh key prefix per use so that tests sharing
 * it never see each other's state.
 */
export function sharedTestRedis(): { readonly url: string; keyPrefix(): string } {
  let redis: TestRedis | undefined;
  let prefixes = 0;
  beforeAll(async () => {
    if (!skipRedisTests) redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.stop();
  });
  return {
    get url() {
      if (redis === undefined) throw new Error("the test Redis is not running");
      return redis.url;
    },
    keyPrefix: () => `test${++prefixes}`,
  };
}
