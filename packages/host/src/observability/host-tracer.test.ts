import { Code, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { EchoService } from "@cpg/examples-proto";
import { createPlugin, type Plugin, provide, silentLogger } from "@cpg/plugin-sdk";
import { waitFor } from "@cpg/test-utils";
import { afterEach, describe, expect, it } from "vitest";
import type { Host } from "../host.js";
import type { HostOptions } from "../host-options.js";
import { handshakeClient, handshakeRequest, testHost } from "../test-support/test-host.js";
import type { HostTracer } from "./host-tracer.js";
import { parentTraceparent } from "./host-tracer.js";

const TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_TRACEPARENT = `00-${TRACE_ID}-00f067aa0ba902b7-01`;
const ROUTER_TRACEPARENT = `00-${TRACE_ID}-b7ad6b7169203331-01`;

interface RecordedSpan {
  name: string;
  attributes: Record<string, string | number>;
  parent: string | undefined;
  ended: string[];
}

const seen: Array<{ traceparent: string | null; tracestate: string | null }> = [];
const echo = provide(EchoService, {
  async echo(req, ctx) {
    seen.push({
      traceparent: ctx.requestHeader.get("traceparent"),
      tracestate: ctx.requestHeader.get("tracestate"),
    });
    return { message: req.message };
  },
});

const open: Array<{ host: Host; plugins: Plugin[] }> = [];

async function setup(options: HostOptions) {
  const host = testHost(options);
  const plugins: Plugin[] = [];
  open.push({ host, plugins });
  const { url } = await host.listen();
  const provider = createPlugin({
    selfId: "echo-provider",
    version: "1.0.0",
    services: [echo],
    logger: silentLogger,
  });
  plugins.push(provider);
  await provider.listen();
  await provider.join(url);
  const caller = createPlugin({
    selfId: "echo-caller",
    version: "1.0.0",
    requires: [{ type: "echo" }],
    logger: silentLogger,
  });
  plugins.push(caller);
  await caller.join(url);
  await waitFor(() => host.registry.providers("echo").length === 1, {
    description: "echo registered",
  });
  return { host, url, caller };
}

afterEach(async () => {
  for (const { host, plugins } of open.splice(0)) {
    for (const p of plugins.reverse()) await p.close(100);
    await host.close();
  }
  seen.length = 0;
});

function recordingTracer(childTraceparent?: string) {
  const spans: RecordedSpan[] = [];
  const tracer: HostTracer = {
    startSpan(name, attributes, parent) {
      const span: RecordedSpan = { name, attributes: { ...attributes }, parent, ended: [] };
      spans.push(span);
      return {
        setAttribute: (k, v) => {
          span.attributes[k] = v;
        },
        end: (code) => {
          span.ended.push(code ?? "");
        },
        ...(childTraceparent ? { traceparent: () => childTraceparent } : {}),
      };
    },
  };
  return { tracer, spans };
}

describe("trace context", () => {
  it("reaches the provider unchanged without a tracer", async () => {
    const { caller } = await setup({});
    await caller
      .client(EchoService)
      .echo(
        { message: "traced" },
        { headers: { traceparent: CALLER_TRACEPARENT, tracestate: "vendor=abc" } },
      );
    expect(seen).toEqual([{ traceparent: CALLER_TRACEPARENT, tracestate: "vendor=abc" }]);
  });

  it("gives the tracer a span per routed call, and the provider the span's traceparent", async () => {
    const { tracer, spans } = recordingTracer(ROUTER_TRACEPARENT);
    const { caller } = await setup({ tracer });
    await caller
      .client(EchoService)
      .echo(
        { message: "traced" },
        { headers: { traceparent: CALLER_TRACEPARENT, tracestate: "vendor=abc" } },
      );
    const routed = spans.filter((s) => s.name === "route echo");
    expect(routed).toEqual([
      {
        name: "route echo",
        parent: CALLER_TRACEPARENT,
        attributes: {
          service_type: "echo",
          caller_self_id: "echo-caller",
          provider_self_id: "echo-provider",
          procedure: "/cpg.examples.v1.EchoService/Echo",
        },
        ended: ["ok"],
      },
    ]);
    expect(seen).toEqual([{ traceparent: ROUTER_TRACEPARENT, tracestate: "vendor=abc" }]);
  });

  it("ends the router's span of a refused call with its code", async () => {
    const { tracer, spans } = recordingTracer();
    const { url } = await setup({ tracer });
    const transport = createConnectTransport({
      baseUrl: `${url}/services/echo/nobody`,
      httpVersion: "1.1",
    });
    await expect(createClient(EchoService, transport).echo({ message: "x" })).rejects.toMatchObject(
      {
        code: Code.Unauthenticated,
      },
    );
    expect(spans.filter((s) => s.name === "route echo")).toMatchObject([
      { parent: undefined, ended: ["unauthenticated"] },
    ]);
  });

  it("gives the tracer a span per host call, named after the procedure", async () => {
    const { tracer, spans } = recordingTracer();
    const { url } = await setup({ tracer });
    const transport = createConnectTransport({ baseUrl: url, httpVersion: "1.1" });
    await handshakeClient(transport).handshake(handshakeRequest({ selfId: "traced" }), {
      headers: { traceparent: CALLER_TRACEPARENT },
    });
    const procedure = "/connectplugin.v1.HandshakeService/Handshake";
    expect(spans.filter((s) => s.parent === CALLER_TRACEPARENT)).toEqual([
      { name: procedure, parent: CALLER_TRACEPARENT, attributes: { procedure }, ended: ["ok"] },
    ]);
  });

  it("hands tracers only well-formed traceparents", () => {
    expect(parentTraceparent(CALLER_TRACEPARENT.toUpperCase())).toBe(CALLER_TRACEPARENT);
    expect(parentTraceparent("00-zz-00f067aa0ba902b7-01")).toBeUndefined();
    expect(parentTraceparent(undefined)).toBeUndefined();
  });
});
