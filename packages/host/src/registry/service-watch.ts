import type { EventStream } from "@cpg/plugin-sdk/internal";
import { HealthState, ServiceState } from "@cpg/protocol";
import type { HostEvent } from "../events/host-event.js";
import type { PluginHealthTable } from "../health/plugin-health.js";
import type { Registration } from "./registration.js";
import type { ServiceRegistry } from "./service-registry.js";

/**
 * The state of a service type as watchers see it.
 */
export interface ServiceStatus {
  readonly state: ServiceState;
  /** The provider to call, when there is one. */
  readonly provider: Registration | undefined;
}

/**
 * The state of a service type: AVAILABLE with at least one routable provider
 * that is not DEGRADED, DEGRADED when every routable provider is, otherwise
 * UNAVAILABLE. The provider named is the first routable one in the best
 * state.
 */
export function serviceStatus(
  registry: ServiceRegistry,
  health: PluginHealthTable,
  serviceType: string,
): ServiceStatus {
  let degraded: Registration | undefined;
  for (const r of registry.routable(serviceType)) {
    if (health.get(r.runtimeId)?.state === HealthState.DEGRADED) {
      degraded ??= r;
    } else {
      return { state: ServiceState.AVAILABLE, provider: r };
    }
  }
  return degraded
    ? { state: ServiceState.DEGRADED, provider: degraded }
    : { state: ServiceState.UNAVAILABLE, provider: undefined };
}

const sameStatus = (a: ServiceStatus, b: ServiceStatus) =>
  a.state === b.state && a.provider?.id === b.provider?.id;

interface Watcher {
  dirty: boolean;
  /** Called by a change; set while the watcher waits for one. */
  wake: (() => void) | undefined;
}

// The watchers of one service type, and its status as of the last change:
// computed once per change, whatever the number of watchers.
interface TypeWatch {
  readonly watchers: Set<Watcher>;
  epoch: number;
  cached: { readonly epoch: number; readonly status: ServiceStatus } | undefined;
}

/**
 * Fans registry and health changes out to WatchService streams.
 */
export interface ServiceWatchHub {
  /**
   * Yields the status of `serviceType` now and after every change that
   * alters it, until `signal` aborts, each status passed through `map`
   * (default: as it is). Identical consecutive statuses are collapsed; a
   * slow reader gets the latest status, never a backlog (each watcher holds
   * one flag, whatever the rate of changes).
   *
   * A change resolves each waiting reader's promise directly, with no async
   * generator in between: a change fans out to thousands of streams, and
   * every generator layer would cost each of them a few microtasks.
   * `onClose` runs once when the watch ends (abort, return, failure).
   */
  watch<T = ServiceStatus>(
    serviceType: string,
    signal: AbortSignal,
    map?: (status: ServiceStatus) => T,
    onClose?: () => void,
  ): AsyncIterable<T>;
  /**
   * Push form of {@link ServiceWatchHub.watch}: calls `deliver` with the
   * status now and, synchronously from the change itself, after every change
   * that alters it, until `signal` aborts or the returned function is
   * called. A fan-out this way costs no promise per stream. `onClose` runs
   * once at the end, with the error when `deliver` threw.
   */
  subscribe(
    serviceType: string,
    signal: AbortSignal,
    deliver: (status: ServiceStatus) => void,
    onClose: (error?: unknown) => void,
  ): () => void;
  /** Number of open watch streams. */
  readonly size: number;
}

/**
 * Creates a {@link ServiceWatchHub} over the host events. Watchers are
 * indexed by service type, so a change wakes only the watchers of the types
 * it touches.
 */
export function createServiceWatchHub(
  registry: ServiceRegistry,
  health: PluginHealthTable,
  events: EventStream<HostEvent>,
): ServiceWatchHub {
  const watchers = new Map<string, TypeWatch>();
  let size = 0;

  const touch = (serviceType: string) => {
    const entry = watchers.get(serviceType);
    if (!entry) return;
    entry.epoch++;
    for (const w of entry.watchers) {
      w.dirty = true;
      w.wake?.();
    }
  };
  const statusOf = (serviceType: string, entry: TypeWatch): ServiceStatus => {
    if (entry.cached?.epoch !== entry.epoch) {
      entry.cached = { epoch: entry.epoch, status: serviceStatus(registry, health, serviceType) };
    }
    return entry.cached.status;
  };
  const touchRuntime = (runtimeId: string) => {
    for (const r of registry.byRuntime(runtimeId)) touch(r.serviceType);
  };

  /** Adds a watcher to the watchers of `serviceType`; returns their entry (for `leave`). */
  const join = (serviceType: string, self: Watcher) => {
    let type = watchers.get(serviceType);
    if (type === undefined) {
      type = { watchers: new Set(), epoch: 0, cached: undefined };
      watchers.set(serviceType, type);
    }
    const entry = type;
    entry.watchers.add(self);
    size++;
    return entry;
  };
  const leave = (serviceType: string, entry: TypeWatch, self: Watcher) => {
    entry.watchers.delete(self);
    if (entry.watchers.size === 0 && watchers.get(serviceType) === entry) {
      watchers.delete(serviceType);
    }
    size--;
  };

  const subscribe = (
    serviceType: string,
    signal: AbortSignal,
    deliver: (status: ServiceStatus) => void,
    onClose: (error?: unknown) => void,
  ) => {
    const self: Watcher = { dirty: true, wake: undefined };
    const type = join(serviceType, self);
    let last: ServiceStatus | undefined;
    let closed = false;
    const close = (error?: unknown) => {
      if (closed) return;
      closed = true;
      self.wake = undefined;
      signal.removeEventListener("abort", onAbort);
      leave(serviceType, type, self);
      onClose(error);
    };
    const onAbort = () => close();
    const poll = () => {
      while (self.dirty && !closed) {
        self.dirty = false;
        const status = statusOf(serviceType, type);
        if (last === undefined || !sameStatus(last, status)) {
          last = status;
          try {
            deliver(status);
          } catch (error) {
            close(error);
          }
        }
      }
    };
    self.wake = poll;
    if (signal.aborted) {
      close();
      return () => {};
    }
    signal.addEventListener("abort", onAbort);
    poll();
    return () => close();
  };

  const open = <T>(
    serviceType: string,
    signal: AbortSignal,
    map: (status: ServiceStatus) => T,
    onClose: (() => void) | undefined,
  ): AsyncIterator<T> => {
    const self: Watcher = { dirty: true, wake: undefined };
    const type = join(serviceType, self);
    let last: ServiceStatus | undefined;
    let closed = false;
    const close = () => {
      if (closed) return;
      closed = true;
      signal.removeEventListener("abort", onAbort);
      leave(serviceType, type, self);
      onClose?.();
    };
    // The next result when there is one: a changed status, or the end.
    const poll = (): IteratorResult<T> | undefined => {
      while (self.dirty && !closed) {
        self.dirty = false;
        const status = statusOf(serviceType, type);
        if (last === undefined || !sameStatus(last, status)) {
          last = status;
          return { done: false, value: map(status) };
        }
      }
      if (closed || signal.aborted) {
        close();
        return { done: true, value: undefined };
      }
      return undefined;
    };
    const onAbort = () => self.wake?.();
    signal.addEventListener("abort", onAbort);
    // The waiting reader's promise, settled by `wake` (one function per watcher).
    let resolve: ((result: IteratorResult<T>) => void) | undefined;
    let reject: ((error: unknown) => void) | undefined;
    const wake = () => {
      let result: IteratorResult<T> | undefined;
      try {
        result = poll();
      } catch (error) {
        self.wake = undefined;
        close();
        reject?.(error);
        return;
      }
      if (result === undefined) return;
      self.wake = undefined;
      resolve?.(result);
    };
    const wait = (ok: typeof resolve, fail: typeof reject) => {
      resolve = ok;
      reject = fail;
      self.wake = wake;
    };
    return {
      next() {
        try {
          const ready = poll();
          if (ready !== undefined) return Promise.resolve(ready);
        } catch (error) {
          close();
          return Promise.reject(error);
        }
        return new Promise<IteratorResult<T>>(wait);
      },
      return() {
        close();
        // A reader still waiting sees the end.
        self.wake?.();
        return Promise.resolve({ done: true, value: undefined });
      },
    };
  };

  events.subscribe((event) => {
    switch (event.type) {
      case "service.registered":
      case "service.unregistered":
        touch(event.registration.serviceType);
        break;
      case "health.changed":
      case "provider.ejected":
        touchRuntime(event.runtimeId);
        break;
      case "host.serving":
        if (!event.serving) for (const type of watchers.keys()) touch(type);
        break;
    }
  });

  const hub: Omit<ServiceWatchHub, "size"> = {
    watch<T>(
      serviceType: string,
      signal: AbortSignal,
      map: (status: ServiceStatus) => T = (status) => status as T,
      onClose?: () => void,
    ): AsyncIterable<T> {
      return { [Symbol.asyncIterator]: () => open(serviceType, signal, map, onClose) };
    },
    subscribe,
  };
  // Not a getter in the literal: V8 keeps object literals with accessors in
  // slow dictionary mode, and every method call would pay for that.
  return Object.defineProperty(hub, "size", {
    get: () => size,
    enumerable: true,
  }) as ServiceWatchHub;
}
