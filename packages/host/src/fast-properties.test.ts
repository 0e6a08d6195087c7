import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";

// V8 keeps an object literal with a getter in slow dictionary mode, and every
// method call on it is then a dictionary lookup: about a third of a runtime
// token check. This runs the built package in a Node process that may ask
// V8 directly (`%HasFastProperties`), so a getter added back to one of these
// literals fails here rather than only in the benchmarks.
describe("the host's long-lived objects", () => {
  it("stay in V8's fast property mode", () => {
    const dist = new URL("../dist/index.js", import.meta.url).href;
    const script = `
      const { createHost, silentLogger } = await import(${JSON.stringify(dist)});
      const host = createHost({ logger: silentLogger });
      const fast = (o) => %HasFastProperties(o);
      const objects = {
        host,
        identities: host.identities,
        grants: host.grants,
        registry: host.registry,
        events: host.events,
        health: host.health,
        capabilities: host.capabilities,
      };
      const out = Object.fromEntries(Object.entries(objects).map(([name, o]) => [name, fast(o)]));
      out.sizesStillRead = typeof host.identities.size === "number" && typeof host.registry.size === "number";
      await host.close();
      process.stdout.write(JSON.stringify(out));
    `;
    const out = execFileSync(
      process.execPath,
      ["--allow-natives-syntax", "--input-type=module", "-e", script],
      { encoding: "utf8" },
    );
    expect(JSON.parse(out)).toEqual({
      host: true,
      identities: true,
      grants: true,
      registry: true,
      events: true,
      health: true,
      capabilities: true,
      sizesStillRead: true,
    });
  });
});
