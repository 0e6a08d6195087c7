import { existsSync, mkdirSync } from "node:fs";
import { silentLogger } from "@cpg/host";
import { type Browser, chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Demo, startDemo } from "./demo-host.js";

const CHROMIUM = "/usr/bin/chromium";
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium && process.env.CI) {
  throw new Error(
    `the dashboard test needs Debian's chromium at ${CHROMIUM}: apt-get install chromium`,
  );
}

describe.skipIf(!haveChromium)("the demo dashboard in a browser", () => {
  let demo: Demo;
  let browser: Browser;
  beforeAll(async () => {
    demo = await startDemo({ port: 0, logger: silentLogger });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
  });
  afterAll(async () => {
    await browser?.close();
    await demo?.close();
  });

  it("shows the plugins, routes a request through the chain, and updates when a plugin stops", async () => {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    await page.goto(demo.dashboardUrl);
    const plugins = page.locator("#plugins tbody");
    for (const name of ["kv", "links", "shortener", "cache"]) {
      await expect.poll(() => plugins.innerText(), { timeout: 20_000 }).toContain(name);
    }
    await expect
      .poll(() => page.locator("#services tbody").innerText(), { timeout: 20_000 })
      .toContain("shortener");

    // One request travels demo-web -> shortener -> links -> logger.
    await page.click("#shorten button");
    await expect
      .poll(() => page.locator("#shorten-result").innerText(), { timeout: 20_000 })
      .toContain("short URL");
    const routes = page.locator("#routes tbody");
    await expect.poll(() => routes.innerText(), { timeout: 20_000 }).toContain("shortener");
    await expect.poll(() => routes.innerText(), { timeout: 20_000 }).toContain("links");
    await expect
      .poll(() => page.locator("#grants tbody").innerText(), { timeout: 20_000 })
      .toContain("logger");

    // Stopping a plugin shows on the dashboard.
    await demo.host.platform.remove("cache");
    await expect
      .poll(
        async () => (await plugins.innerText()).split("\n").some((row) => row.startsWith("cache")),
        {
          timeout: 20_000,
        },
      )
      .toBe(false);

    mkdirSync("test-artifacts", { recursive: true });
    await page.screenshot({ path: "test-artifacts/dashboard.png", fullPage: true });
    await page.close();
  });
});
