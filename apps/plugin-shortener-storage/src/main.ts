// The demo link storage plugin as a process. Without HOST_URL it waits for a
// host to adopt it (managed); with HOST_URL it joins that host by itself.
import { runPlugin } from "@cpg/plugin-sdk";
import { linkStorePluginOptions } from "./plugin.js";

const options = linkStorePluginOptions();
const plugin = await runPlugin(options);
options.attach(plugin);
