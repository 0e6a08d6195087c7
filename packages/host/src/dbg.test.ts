import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { EchoService } from "@cpg/examples-proto";
import { createPlugin, provide, silentLogger } from "@cpg/plugin-sdk";
import { it } from "vitest";

it("dbg", async () => {
  const ends: string[] = [];
  const p = createPlugin({
    selfId: "x",
    version: "1.0.0",
    logger: silentLogger,
    services: [
      provide(EchoService, {
        async *echoServerStream(req, ctx) {
          let i = 0;
          try {
            for (; i < req.count && !ctx.signal.aborted; i++)
              yield { message: req.message, index: i };
          } finally {
            ends.push(`end ${i}`);
          }
        },
      }),
    ],
  });
  const { url } = await p.listen();
  const abort = new AbortController();
  const c = createClient(EchoService, createGrpcTransport({ baseUrl: url }));
  let n = 0;
  try {
    for await (const _ of c.echoServerStream(
      { message: "m", count: 1_000_000 },
      { signal: abort.signal },
    )) {
      if (++n === 10) abort.abort();
    }
  } catch (e) {
    console.log("client", String(e));
  }
  for (let i = 0; i < 100 && ends.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
  console.log("ENDS", ends);
  await p.close(100);
});
