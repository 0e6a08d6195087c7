import { defineConfig } from "vitest/config";

/**
 * Vitest configuration shared by every workspace package: tests next to the
 * code, a JSON report in test-artifacts/ that `npm test` sums up, and
 * generous timeouts for integration tests on slow CI machines.
 */
export function packageTestConfig(options: { testTimeout?: number; include?: string[] } = {}) {
  return defineConfig({
    test: {
      include: options.include ?? ["src/**/*.test.ts"],
      testTimeout: options.testTimeout ?? 20_000,
      hookTimeout: 30_000,
      reporters: ["default", "json"],
      outputFile: { json: "test-artifacts/vitest.json" },
    },
  });
}
