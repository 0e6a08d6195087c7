import { defineConfig } from "tsup";

export default defineConfig({
  entry: ["src/index.ts", "src/redis.ts"],
  format: ["esm", "cjs"],
  dts: true,
  sourcemap: true,
  clean: true,
  target: "node20",
  // One shared chunk for both entries, also in CommonJS, so that
  // RateLimitError thrown by the Redis store is the class users import.
  splitting: true,
});
