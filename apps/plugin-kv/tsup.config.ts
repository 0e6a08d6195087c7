import { defineConfig } from "tsup";

export default defineConfig({
  // main.ts is the process entry; plugin.ts lets a host run the plugin in memory.
  entry: ["src/main.ts", "src/plugin.ts"],
  format: ["esm"],
  dts: true,
  sourcemap: true,
  clean: true,
  target: "node20",
});
