// The provider of the router benchmarks, in a process of its own: a cpg
// plugin serving cpg.examples.v1.EchoService over h2c (the SDK's listener),
// joined to the host given as first argument (it then registers with
// `http2: "true"`), or standalone without one.
//
// Started by bench/lib/child-process.mjs#startChild; announces
// { url, runtimeId }.
import { EchoService } from "@cpg/examples-proto";
import { createPlugin, provide, silentLogger } from "@cpg/plugin-sdk";
import { serveParent } from "./child-process.mjs";

const hostUrl = process.argv[2];

const plugin = createPlugin({
  selfId: "bench-echo",
  version: "1.0.0",
  logger: silentLogger,
  services: [
    provide(EchoService, {
      echo: (req) => ({ message: req.message }),
      async *echoServerStream(req) {
        for (let index = 0; index < req.count; index++) yield { message: req.message, index };
      },
    }),
  ],
});
const { url } = await plugin.listen({ host: "127.0.0.1", port: 0 });
const credentials = hostUrl ? await plugin.join(hostUrl) : undefined;

serveParent(
  { url, runtimeId: credentials?.runtimeId ?? "" },
  {
    stop: () => plugin.close(200),
  },
);
