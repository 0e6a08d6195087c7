// Runs every `ts` block of README.md as a module, with the package's imports
// pointing at src/, and compares what it logs with its `// -> ...` comments.
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { skipRedisTests, startRedis, type TestRedis } from "@cpg/test-utils";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const scratch = join(root, "test-artifacts", "readme");
const readme = await readFile(join(root, "README.md"), "utf8");
const examples = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((match) => match[1]!);
const needsRedis = (code: string) => code.includes("@cpg/ratelimit/redis");

let redis: TestRedis | undefined;
beforeAll(async () => {
  await mkdir(scratch, { recursive: true });
  if (examples.some(needsRedis) && !skipRedisTests) {
    redis = await startRedis();
    vi.stubEnv("REDIS_URL", redis.url);
  }
});
afterAll(async () => {
  vi.unstubAllEnvs();
  await redis?.stop();
  await rm(scratch, { recursive: true, force: true });
});

function pointAtSources(code: string): string {
  return code
    .replaceAll('from "@cpg/ratelimit/redis"', `from ${JSON.stringify(join(root, "src/redis.ts"))}`)
    .replaceAll('from "@cpg/ratelimit"', `from ${JSON.stringify(join(root, "src/index.ts"))}`);
}

describe("README examples", () => {
  it("has the four examples", () => {
    expect(examples).toHaveLength(4);
  });

  examples.forEach((code, index) => {
    it.skipIf(needsRedis(code) && skipRedisTests)(
      `example ${index + 1} logs what its comments say`,
      async () => {
        const file = join(scratch, `example-${index + 1}.ts`);
        await writeFile(file, `${pointAtSources(code)}\nexport {};\n`);
        const logged: string[] = [];
        const log = vi.spyOn(console, "log").mockImplementation((...args: unknown[]) => {
          logged.push(args.map(String).join(" "));
        });
        try {
          await import(file);
        } finally {
          log.mockRestore();
        }
        const expected = [...code.matchAll(/\/\/ -> (.*)$/gm)].map((match) => match[1]!);
        expect(expected.length).toBeGreaterThan(0);
        expect(logged).toEqual(expected);
      },
    );
  });
});
