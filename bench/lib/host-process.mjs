// A cpg host in a process of its own, for the router benchmarks.
//
// Started by bench/lib/child-process.mjs#startChild; announces { url }.
// Host defaults throughout (metrics on, development profile), except the
// per-caller router rate limit, which is raised so that it is checked on
// every call but never refuses the load generator.
//
// CPG_BENCH_HOST_MODULE=<path to a built index.js> runs another build of
// @cpg/host (e.g. a copy of packages/host/dist from before a change), to
// compare two builds side by side.
import { pathToFileURL } from "node:url";
import { silentLogger } from "@cpg/plugin-sdk";
import { serveParent } from "./child-process.mjs";

const module = process.env.CPG_BENCH_HOST_MODULE;
const { createHost } = await import(module ? pathToFileURL(module).href : "@cpg/host");

const host = createHost({
  logger: silentLogger,
  router: { rateLimit: { rate: 1e9, burst: 1e9 } },
});
const { url } = await host.listen({ host: "127.0.0.1", port: 0 });

serveParent(
  { url },
  {
    stop: () => host.close(),
  },
);
