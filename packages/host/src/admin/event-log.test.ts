import { createEventStream } from "@cpg/plugin-sdk/internal";
import { HealthState } from "@cpg/protocol";
import { describe, expect, it, vi } from "vitest";
import type { HostEvent } from "../events/host-event.js";
import { isHostError } from "../host-error.js";
import type { Registration } from "../registry/registration.js";
import { createEventLog, type LoggedEvent } from "./event-log.js";
import { feedHostEvents, lazyLoggedEvent } from "./host-event-feed.js";

const event = (n: number): LoggedEvent => ({
  time: n,
  kind: "route",
  name: `e${n}`,
  fields: { n: String(n) },
});
const names = (events: readonly LoggedEvent[]) => events.map((e) => e.name);

describe("createEventLog", () => {
  it("keeps the last capacity events, oldest first, after wrapping", () => {
    const log = createEventLog(3);
    for (let n = 1; n <= 7; n++) log.push(event(n));

    expect(names(log.recent(3))).toEqual(["e5", "e6", "e7"]);
    expect(names(log.recent(2))).toEqual(["e6", "e7"]);
    expect(names(log.recent(10))).toEqual(["e5", "e6", "e7"]);
    expect(log.recent(0)).toEqual([]);
  });

  it("returns what it has before it is full", () => {
    const log = createEventLog(3);
    expect(log.recent(3)).toEqual([]);
    log.push(event(1));
    log.push(event(2));

    expect(names(log.recent(3))).toEqual(["e1", "e2"]);
    expect(names(log.recent(1))).toEqual(["e2"]);
  });

  it("wraps exactly at capacity", () => {
    const log = createEventLog(3);
    for (let n = 1; n <= 3; n++) log.push(event(n));
    expect(names(log.recent(3))).toEqual(["e1", "e2", "e3"]);
    log.push(event(4));
    expect(names(log.recent(3))).toEqual(["e2", "e3", "e4"]);
  });

  it("hands out copies: a reader cannot change the log", () => {
    const log = createEventLog(3);
    for (let n = 1; n <= 4; n++) log.push(event(n));
    const recent = log.recent(3);
    recent.shift();
    recent.push(event(99));

    expect(names(log.recent(3))).toEqual(["e2", "e3", "e4"]);
  });

  it("delivers every event to subscribers until they unsubscribe", () => {
    const log = createEventLog(2);
    const first: string[] = [];
    const second: string[] = [];
    const stopFirst = log.subscribe((e) => first.push(e.name));
    log.subscribe((e) => second.push(e.name));

    for (let n = 1; n <= 3; n++) log.push(event(n));
    stopFirst();
    log.push(event(4));

    expect(first).toEqual(["e1", "e2", "e3"]);
    expect(second).toEqual(["e1", "e2", "e3", "e4"]);
  });

  it("lets a subscriber unsubscribe while an event is delivered", () => {
    const log = createEventLog(2);
    const seen: string[] = [];
    const stop = log.subscribe(() => stop());
    log.subscribe((e) => seen.push(e.name));

    log.push(event(1));
    log.push(event(2));

    expect(seen).toEqual(["e1", "e2"]);
  });

  it("refuses a capacity that is not a positive integer", () => {
    for (const capacity of [0, -1, 2.5, Number.NaN]) {
      let error: unknown;
      try {
        createEventLog(capacity);
      } catch (e) {
        error = e;
      }
      expect(isHostError(error) && error.code).toBe("invalid_config");
      expect((error as Error).message).toBe(
        `event log capacity must be a positive integer, got ${capacity}`,
      );
    }
  });
});

describe("lazyLoggedEvent", () => {
  it("formats its fields on first read, once", () => {
    const format = vi.fn(() => ({ a: "1" }));
    const logged = lazyLoggedEvent(42, "route", "route.completed", format);

    expect(logged).toMatchObject({ time: 42, kind: "route", name: "route.completed" });
    expect(format).not.toHaveBeenCalled();
    expect(logged.fields).toEqual({ a: "1" });
    expect(logged.fields).toBe(logged.fields);
    expect(format).toHaveBeenCalledTimes(1);
    // Serializing sees the fields too.
    expect(JSON.parse(JSON.stringify(logged))).toEqual({
      time: 42,
      kind: "route",
      name: "route.completed",
      fields: { a: "1" },
    });
  });
});

describe("feedHostEvents", () => {
  const registration: Registration = {
    id: "reg-1",
    runtimeId: "echo-1",
    selfId: "echo",
    serviceType: "echo",
    version: "1.2.3",
    endpointPath: "/cpg.examples.v1.EchoService/",
    metadata: { base_url: "memory://echo-1" },
    baseUrl: "memory://echo-1",
    http2: false,
    registeredAt: 1,
  };

  function fed() {
    const events = createEventStream<HostEvent>();
    const log = createEventLog(10);
    let t = 1000;
    feedHostEvents(events, log, () => t++);
    return { events, log };
  }

  it("logs host events by kind, with registrations flattened, and skips health.reported", () => {
    const { events, log } = fed();
    events.emit({ type: "service.registered", registration });
    events.emit({ type: "health.reported", runtimeId: "echo-1", state: HealthState.HEALTHY });
    events.emit({
      type: "health.changed",
      runtimeId: "echo-1",
      state: HealthState.DEGRADED,
      previous: HealthState.HEALTHY,
      reason: "waiting",
      unavailableDependencies: ["kv", "cache"],
    });
    events.emit({ type: "runtime.ended", runtimeId: "echo-1", reason: "revoked" });
    events.emit({ type: "host.serving", serving: false });
    events.emit({
      type: "route.completed",
      callerId: "caller-1",
      providerId: "echo-1",
      serviceType: "echo",
      procedure: "/cpg.examples.v1.EchoService/Echo",
      code: "ok",
      durationMs: 1.5,
    });

    const logged = log.recent(10);
    expect(logged.map((e) => [e.time, e.kind, e.name])).toEqual([
      [1000, "registry", "service.registered"],
      [1001, "health", "health.changed"],
      [1002, "runtime", "runtime.ended"],
      [1003, "host", "host.serving"],
      [1004, "route", "route.completed"],
    ]);
    expect(logged.map((e) => e.fields)).toEqual([
      { registration_id: "reg-1", service_type: "echo", runtime_id: "echo-1", version: "1.2.3" },
      {
        runtimeId: "echo-1",
        state: String(HealthState.DEGRADED),
        previous: String(HealthState.HEALTHY),
        reason: "waiting",
        unavailableDependencies: '["kv","cache"]',
      },
      { runtimeId: "echo-1", reason: "revoked" },
      { serving: "false" },
      {
        callerId: "caller-1",
        providerId: "echo-1",
        serviceType: "echo",
        procedure: "/cpg.examples.v1.EchoService/Echo",
        code: "ok",
        durationMs: "1.5",
      },
    ]);
  });

  it("keeps the reason of an unregistration next to the flattened registration", () => {
    const { events, log } = fed();
    events.emit({ type: "service.unregistered", registration, reason: "replaced" });

    expect(log.recent(1)[0]!.fields).toEqual({
      registration_id: "reg-1",
      service_type: "echo",
      runtime_id: "echo-1",
      version: "1.2.3",
      reason: "replaced",
    });
  });

  it("formats an event's fields only when they are read", () => {
    const { events, log } = fed();
    let reads = 0;
    const routed = {
      type: "route.completed",
      callerId: "caller-1",
      providerId: "echo-1",
      serviceType: "echo",
      procedure: "/p",
      code: "ok",
      get durationMs() {
        reads++;
        return 2;
      },
    } as const;

    events.emit(routed);
    expect(reads).toBe(0);

    const [logged] = log.recent(1);
    expect(logged!.fields.durationMs).toBe("2");
    expect(logged!.fields.code).toBe("ok");
    expect(reads).toBe(1);
  });
});
