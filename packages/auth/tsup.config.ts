import { defineConfig } from "tsup";

export default defineConfig({
  entry: ["src/index.ts", "src/node.ts"],
  format: ["esm", "cjs"],
  dts: true,
  sourcemap: true,
  clean: true,
  target: "node20",
  // Shared code (AuthError above all) lives in one chunk for both entry
  // points and both formats, so `instanceof` holds across them.
  splitting: true,
});
