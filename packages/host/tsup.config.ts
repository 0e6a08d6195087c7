import { defineConfig } from "tsup";

export default defineConfig({
  entry: ["src/index.ts", "src/cli/cpg-host.ts"],
  format: ["esm", "cjs"],
  dts: true,
  sourcemap: true,
  clean: true,
  splitting: true,
  target: "node20",
});
