import { defineConfig } from "tsup";

export default defineConfig([
  {
    entry: { main: "src/main.ts", "demo-host": "src/demo-host.ts" },
    format: ["esm"],
    target: "node20",
    clean: true,
    sourcemap: true,
  },
  {
    // The dashboard: one browser bundle with connect-web and the admin API descriptors.
    entry: { "dashboard/app": "src/dashboard/app.ts" },
    format: ["esm"],
    platform: "browser",
    target: "es2022",
    noExternal: [/.*/],
    sourcemap: true,
  },
]);
