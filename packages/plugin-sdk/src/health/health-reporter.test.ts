import { HealthState } from "@cpg/protocol";
import { afterEach, describe, expect, it, vi } from "vitest";
import { type FakeHost, startFakeHost, startFakeReplicas } from "../test-support/fake-host.js";
import { recordingLogger, usePlugins } from "../test-support/test-plugins.js";
import { createHealthReporter } from "./health-reporter.js";

const plugin = usePlugins();
const hosts: FakeHost[] = [];
afterEach(async () => {
  vi.useRealTimers();
  await Promise.all(hosts.splice(0).map((h) => h.close()));
});

async function fakeHost(): Promise<FakeHost> {
  const host = await startFakeHost();
  hosts.push(host);
  return host;
}

const reportsOf = (host: FakeHost, runtimeId: string | undefined) =>
  host.reports.filter((r) => r.runtimeId === runtimeId);

// Resolves once `runtimeId` sent `count` reports to `host`.
const reportsFrom = (host: FakeHost, runtimeId: string | undefined, count: number) =>
  expect
    .poll(() => reportsOf(host, runtimeId).length, { timeout: 5000 })
    .toBeGreaterThanOrEqual(count);

describe("periodic health reports (lease renewal)", () => {
  it("re-sends the current health every healthReportIntervalMs while joined", async () => {
    const host = await fakeHost();
    const p = plugin({ healthReportIntervalMs: 50 });
    await p.join(host.url);
    await host.nextReport(0);
    await p.setHealth({ state: HealthState.DEGRADED, reason: "cache is cold" });
    // The report of the change, then at least three periodic ones.
    const changed = host.reports.length - 1;
    const started = Date.now();
    await host.nextReport(changed + 3);
    // Three reports 50 ms apart (the first may follow the change at once).
    expect(Date.now() - started).toBeGreaterThanOrEqual(90);
    const sent = host.reports.slice(changed);
    expect(sent.map((r) => [r.runtimeId, r.token, r.message.state, r.message.reason])).toEqual(
      sent.map(() => ["kv-store-1", "token-1", HealthState.DEGRADED, "cache is cold"]),
    );
  });

  it("sends none with healthReportIntervalMs: 0, nor after close()", async () => {
    const host = await fakeHost();
    const off = plugin({ selfId: "quiet", healthReportIntervalMs: 0 });
    const closed = plugin({ selfId: "closed", healthReportIntervalMs: 50 });
    // A plugin that keeps reporting serves as the clock.
    const clock = plugin({ selfId: "clock", healthReportIntervalMs: 50 });
    const quietId = (await off.join(host.url)).runtimeId;
    const closedId = (await closed.join(host.url)).runtimeId;
    const clockId = (await clock.join(host.url)).runtimeId;
    await reportsFrom(host, closedId, 2);
    await closed.close();
    const closedCount = reportsOf(host, closedId).length;
    const clockCount = reportsOf(host, clockId).length;
    await reportsFrom(host, clockId, clockCount + 4);
    expect(reportsOf(host, quietId)).toHaveLength(1);
    expect(reportsOf(host, closedId)).toHaveLength(closedCount);
  });

  it("renews through the next replica when the current one goes away, logging the failover", async () => {
    const [a, b] = await startFakeReplicas(2);
    hosts.push(a!, b!);
    const { logger, lines } = recordingLogger();
    const p = plugin({ healthReportIntervalMs: 50, logger });
    await p.join([a!.url, b!.url]);
    await a!.nextReport(0);
    await a!.closeWhenIdle();
    const renewed = await b!.nextReport(0);
    expect([renewed.runtimeId, renewed.token, renewed.message.state]).toEqual([
      "kv-store-1",
      "token-1",
      HealthState.HEALTHY,
    ]);
    await b!.nextReport(2);
    expect(b!.handshakes).toEqual([]);
    expect(p.credentials?.hostUrl).toBe(b!.url);
    expect(
      lines.filter((l) => l.level === "warn").map((l) => [l.message, l.fields]),
    ).toContainEqual(["host replica unreachable; failing over", { from: a!.url, to: b!.url }]);
  });

  it("logs a report the host refused at warn and keeps going", async () => {
    const host = await fakeHost();
    const { logger, lines } = recordingLogger();
    const p = plugin({ healthReportIntervalMs: 50, logger });
    await p.join(host.url);
    await host.nextReport(0);
    host.unavailable = "state store unreachable";
    await expect
      .poll(() => lines.filter((l) => l.message === "could not report health to the host"))
      .not.toEqual([]);
    const refused = lines.find((l) => l.message === "could not report health to the host");
    expect(refused?.level).toBe("warn");
    host.unavailable = undefined;
    await host.nextReport(1);
  });
});

describe("createHealthReporter", () => {
  // A send that stays under way until `finish()`.
  function slowSend() {
    const sent: number[] = [];
    const pending: Array<() => void> = [];
    let n = 0;
    return {
      sent,
      finish: () => pending.shift()?.(),
      send: () => {
        sent.push(++n);
        return new Promise<void>((resolve) => pending.push(resolve));
      },
    };
  }

  it("sends one report at a time: reports asked for meanwhile share one more, sent after", async () => {
    const { sent, finish, send } = slowSend();
    const reporter = createHealthReporter({ intervalMs: 0, active: () => true, send });
    const first = reporter.report();
    const second = reporter.report();
    const third = reporter.report();
    expect(second).toBe(third);
    expect(sent).toEqual([1]);
    finish();
    await first;
    await vi.waitFor(() => expect(sent).toEqual([1, 2]));
    finish();
    await Promise.all([second, third]);
    expect(sent).toEqual([1, 2]);
  });

  it("reports every interval, skipping a tick while a report is under way", async () => {
    vi.useFakeTimers();
    const { sent, finish, send } = slowSend();
    const reporter = createHealthReporter({ intervalMs: 100, active: () => true, send });
    reporter.start();
    reporter.start();
    await vi.advanceTimersByTimeAsync(100);
    expect(sent).toEqual([1]);
    await vi.advanceTimersByTimeAsync(300);
    expect(sent).toEqual([1]);
    finish();
    await vi.advanceTimersByTimeAsync(100);
    expect(sent).toEqual([1, 2]);
    reporter.stop();
    expect(reporter.running).toBe(false);
  });

  it("stops by itself once the plugin has no identity", async () => {
    vi.useFakeTimers();
    let active = true;
    let calls = 0;
    const reporter = createHealthReporter({
      intervalMs: 10,
      active: () => active,
      send: async () => {
        calls++;
      },
    });
    reporter.start();
    await vi.advanceTimersByTimeAsync(10);
    active = false;
    await vi.advanceTimersByTimeAsync(50);
    expect([calls, reporter.running]).toEqual([1, false]);
  });

  it("never starts with an interval of 0, and survives a failing send", async () => {
    vi.useFakeTimers();
    const off = createHealthReporter({ intervalMs: 0, active: () => true, send: async () => {} });
    off.start();
    expect(off.running).toBe(false);
    let calls = 0;
    const failing = createHealthReporter({
      intervalMs: 10,
      active: () => true,
      send: async () => {
        calls++;
        throw new Error("host down");
      },
    });
    failing.start();
    await vi.advanceTimersByTimeAsync(30);
    failing.stop();
    expect(calls).toBe(3);
    await expect(failing.report()).resolves.toBeUndefined();
  });
});
