import { Code, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { EchoService } from "@cpg/examples-proto";
import { createPlugin, type Plugin, provide, silentLogger } from "@cpg/plugin-sdk";
import { bearer, RUNTIME_ID_HEADER } from "@cpg/protocol";
import { waitFor } from "@cpg/test-utils";
import { afterEach, describe, expect, it } from "vitest";
import type { Host } from "../host.js";
import { testHost } from "../test-support/test-host.js";

let host: Host | undefined;
const plugins: Plugin[] = [];
afterEach(async () => {
  for (const p of plugins.splice(0)) await p.close(100);
  await host?.close();
});

function plugin(options: Parameters<typeof createPlugin>[0]) {
  const p = createPlugin({ logger: silentLogger, ...options });
  plugins.push(p);
  return p;
}

describe("the router's caller policy (production)", () => {
  it("routes a plugin only to what it declared in requires or is allowed to call", async () => {
    host = testHost({
      profile: "production",
      allowInsecure: true,
      policies: { registration: { echo: ["echo"] }, callers: { auditor: ["echo"] } },
    });
    const { url } = await host.listen();
    const provider = plugin({
      selfId: "echo",
      version: "1.0.0",
      services: [provide(EchoService, { echo: (req) => ({ message: req.message }) })],
    });
    await provider.listen();
    const providerId = (await provider.join(url)).runtimeId;
    await waitFor(() => host!.registry.providers("echo").length === 1, {
      description: "echo registered",
    });

    const direct = (p: Plugin) =>
      createClient(
        EchoService,
        createConnectTransport({
          baseUrl: `${url}/services/echo/${providerId}`,
          httpVersion: "1.1",
          interceptors: [
            (next) => (req) => {
              req.header.set(RUNTIME_ID_HEADER, p.credentials!.runtimeId);
              req.header.set("authorization", bearer(p.credentials!.token));
              return next(req);
            },
          ],
        }),
      );

    const stranger = plugin({ selfId: "stranger", version: "1.0.0" });
    await stranger.join(url);
    await expect(direct(stranger).echo({ message: "x" })).rejects.toMatchObject({
      code: Code.PermissionDenied,
      rawMessage: 'plugin "stranger" may not call service type "echo"; declare it in requires',
    });

    const declared = plugin({ selfId: "consumer", version: "1.0.0", requires: [{ type: "echo" }] });
    await declared.join(url);
    expect((await direct(declared).echo({ message: "ok" })).message).toBe("ok");
    expect((await declared.client(EchoService).echo({ message: "sdk" })).message).toBe("sdk");

    const allowed = plugin({ selfId: "auditor", version: "1.0.0" });
    await allowed.join(url);
    expect((await direct(allowed).echo({ message: "listed" })).message).toBe("listed");
  });
});
