import { Code, createClient, createRouterTransport } from "@connectrpc/connect";
import { HandshakeService, HealthState, PluginControl } from "@cpg/protocol";
import { afterEach, describe, expect, it } from "vitest";
import type { Host } from "./host.js";
import { isHostError } from "./host-error.js";
import { handshakeRequest, runtimeHeaders, testHost } from "./test-support/test-host.js";

let host: Host;
afterEach(() => host?.close());

describe("createHost", () => {
  it("refuses invalid options with a message that says what to change", () => {
    expect(() => testHost({ profile: "staging" as never })).toThrow(
      'unknown profile "staging": use "development" or "production"',
    );
    expect(() => testHost({ runtimeTokenTtlMs: -1 })).toThrow(
      "runtimeTokenTtlMs must be a positive number, got -1",
    );
    expect(() => testHost({ appProtocolVersions: [] })).toThrow(
      "appProtocolVersions must be a non-empty list of positive integers, got []",
    );
    expect(() => testHost({ profile: "production", rateLimits: false })).toThrow(
      'rate limits cannot be turned off under the "production" profile; set budgets instead',
    );
  });

  it("refuses plaintext under the production profile unless allowed", async () => {
    host = testHost({ profile: "production" });
    const error = await host.listen().catch((e: unknown) => e);
    expect(isHostError(error) && error.code).toBe("insecure_config");
    const allowed = testHost({ profile: "production", allowInsecure: true });
    const { url } = await allowed.listen();
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    await allowed.close();
  });

  it("closes gracefully: finishes calls in flight, refuses new ones, runs hooks", async () => {
    host = testHost();
    let release!: () => void;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    let started!: () => void;
    const inFlight = new Promise<void>((resolve) => {
      started = resolve;
    });
    // A slow service mounted next to the host's own, behind the host's interceptors.
    const transport = createRouterTransport(
      (router) => {
        host.routes(router);
        router.service(PluginControl, {
          async getHealth() {
            started();
            await released;
            return { state: HealthState.HEALTHY };
          },
        });
      },
      { router: { interceptors: [...host.interceptors] } },
    );
    const order: string[] = [];
    host.onClose(() => {
      order.push("hook");
    });
    const id = await createClient(HandshakeService, transport).handshake(handshakeRequest());
    const slow = createClient(PluginControl, transport).getHealth(
      {},
      { headers: runtimeHeaders(id.runtimeId, id.runtimeToken) },
    );
    await inFlight;
    const closed = host.close().then(() => order.push("closed"));
    expect(host.serving.get("")).toBe("not_serving");
    await expect(
      createClient(HandshakeService, transport).handshake(handshakeRequest()),
    ).rejects.toMatchObject({ code: Code.Unavailable, rawMessage: "host is shutting down" });
    expect(order).toEqual([]);
    release();
    await expect(slow).resolves.toMatchObject({ state: HealthState.HEALTHY });
    await closed;
    expect(order).toEqual(["hook", "closed"]);
  });

  it("bounds shutdown by its timeout", async () => {
    host = testHost({ shutdownTimeoutMs: 50 });
    const transport = createRouterTransport(
      (router) => {
        host.routes(router);
        router.service(PluginControl, {
          getHealth: (_req, ctx) =>
            new Promise((_, reject) =>
              ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason)),
            ),
        });
      },
      { router: { interceptors: [...host.interceptors] } },
    );
    const abort = new AbortController();
    const id = await createClient(HandshakeService, transport).handshake(handshakeRequest());
    const stuck = createClient(PluginControl, transport).getHealth(
      {},
      { signal: abort.signal, headers: runtimeHeaders(id.runtimeId, id.runtimeToken) },
    );
    await host.close();
    abort.abort();
    await expect(stuck).rejects.toMatchObject({ code: Code.Canceled });
  });
});
