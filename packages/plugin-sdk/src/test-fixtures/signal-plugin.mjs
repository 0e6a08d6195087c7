// A plugin process for run-plugin.test.ts, run with node against the built
// package (dist/). It calls runPlugin with the process environment (PORT,
// HOST_URL) and prints one JSON line per event on stdout.
//
// Its Logger.Log holds a call whose message is "hold" until the process gets
// SIGTERM or SIGINT, so a test can check that a call in flight still gets its
// answer while the plugin stops.
import { provide, runPlugin, silentLogger } from "@cpg/plugin-sdk";
import { Logger } from "@cpg/protocol";

const say = (event) => process.stdout.write(`${JSON.stringify(event)}\n`);

let release;
const released = new Promise((resolve) => {
  release = resolve;
});
for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => {
    say({ event: "signal", signal });
    release();
  });
}

const plugin = await runPlugin({
  selfId: "signal-plugin",
  version: "1.0.0",
  services: [
    provide(Logger, {
      async log(req) {
        if (req.message === "hold") {
          say({ event: "holding" });
          await released;
        }
        return {};
      },
    }),
  ],
  logger: silentLogger,
});
say({ event: "listening", url: plugin.url, runtimeId: plugin.credentials?.runtimeId ?? null });
void plugin.shutdownRequested.then(({ gracePeriodMs, reason }) =>
  say({ event: "shutdown", gracePeriodMs, reason }),
);
