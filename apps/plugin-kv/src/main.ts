// The demo key-value plugin as a process. Without HOST_URL it waits for a
// host to adopt it (managed); with HOST_URL it joins that host by itself.
import { PARENT_WATCH_ENV, runPlugin } from "@cpg/plugin-sdk";
import { createKvStore } from "./kv-store.js";
import { kvPluginOptions } from "./plugin.js";

const store = createKvStore();
const plugin = await runPlugin(kvPluginOptions({ store }));

// Watches last until their callers leave: end them as soon as the plugin is
// asked to stop, so that its graceful close does not wait for them.
void plugin.shutdownRequested.then(() => store.close());
process.once("SIGTERM", () => store.close());
process.once("SIGINT", () => store.close());
if (process.env[PARENT_WATCH_ENV] === "stdin") process.stdin.once("end", () => store.close());
