// The demo cache plugin as a process. Without HOST_URL it waits for a host
// to adopt it (managed); with HOST_URL it joins that host by itself.
import { runPlugin } from "@cpg/plugin-sdk";
import { cachePluginOptions } from "./plugin.js";

const options = cachePluginOptions();
const plugin = await runPlugin(options);
const stopWatching = options.attach(plugin);
void plugin.shutdownRequested.then(stopWatching);
