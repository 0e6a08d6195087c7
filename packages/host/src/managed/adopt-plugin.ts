import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { type ClientTlsOptions, createHostTransport, type HostProtocol } from "@cpg/plugin-sdk";
import type { EventStream } from "@cpg/plugin-sdk/internal";
import {
  AUTHORIZATION_HEADER,
  bearer,
  type GetPluginInfoResponse,
  HealthState,
  PluginIdentity,
} from "@cpg/protocol";
import { isValidationError, validateSelfId } from "@cpg/validation";
import type { HostEvent } from "../events/host-event.js";
import type { PluginHealthTable } from "../health/plugin-health.js";
import type { RuntimeIdentities } from "../identity/runtime-identities.js";

/**
 * Options of `Host.adoptPlugin`.
 */
export interface AdoptPluginOptions {
  /** Protocol for calls to the plugin. Default: `"connect"`. */
  readonly protocol?: HostProtocol;
  /** TLS for calls to the plugin. Default: Node's roots. */
  readonly tls?: ClientTlsOptions;
  /** Secret the plugin expects from its launcher (`CPG_LAUNCH_SECRET`). Default: none. */
  readonly launchSecret?: string;
  /** How long to wait for the plugin to report HEALTHY. Default: 10 s. */
  readonly healthyTimeoutMs?: number;
}

/**
 * A plugin the host manages.
 */
export interface AdoptedPlugin {
  /** Runtime id the host assigned. */
  readonly runtimeId: string;
  /** What the plugin said about itself. */
  readonly info: GetPluginInfoResponse;
  /** Base URL of the plugin. */
  readonly url: string;
}

/**
 * The managed model for a running plugin: reads `GetPluginInfo`, issues a
 * runtime identity (marked managed), hands it over with `SetRuntimeIdentity`
 * together with the host's own URL, then waits until the plugin reports
 * HEALTHY. On any failure the identity is revoked.
 * @private
 */
export async function adoptPlugin(
  deps: {
    hostUrl: string;
    identities: RuntimeIdentities;
    health: PluginHealthTable;
    events: EventStream<HostEvent>;
    managedUrls: Map<string, string>;
  },
  url: string,
  options: AdoptPluginOptions = {},
): Promise<AdoptedPlugin> {
  const transport = createHostTransport({
    baseUrl: url,
    ...(options.protocol ? { protocol: options.protocol } : {}),
    ...(options.tls ? { tls: options.tls } : {}),
  });
  const client = createClient(PluginIdentity, transport);
  const info = await client.getPluginInfo({}, { timeoutMs: 5000 });
  try {
    validateSelfId(info.selfId);
  } catch (error) {
    if (isValidationError(error)) {
      throw new ConnectError(
        `plugin at ${url} reports an invalid ${error.message}`,
        Code.InvalidArgument,
      );
    }
    throw error;
  }
  const identity = await deps.identities.issue({
    selfId: info.selfId,
    selfVersion: info.selfVersion,
    managed: true,
    requires: info.requires.map((r) => r.type),
  });
  deps.managedUrls.set(identity.runtimeId, url.replace(/\/$/, ""));
  const healthy = waitForHealthy(deps, identity.runtimeId, options.healthyTimeoutMs ?? 10_000);
  try {
    const headers = new Headers();
    if (options.launchSecret) headers.set(AUTHORIZATION_HEADER, bearer(options.launchSecret));
    const ack = await client.setRuntimeIdentity(
      {
        runtimeId: identity.runtimeId,
        runtimeToken: identity.token,
        hostUrl: deps.hostUrl,
        runtimeTokenExpiresUnixMs: BigInt(identity.expiresAt),
      },
      { headers, timeoutMs: 5000 },
    );
    if (!ack.acknowledged) {
      throw new ConnectError(
        `plugin at ${url} did not accept its runtime identity`,
        Code.FailedPrecondition,
      );
    }
    await healthy.promise;
  } catch (error) {
    healthy.cancel();
    deps.identities.revoke(identity.runtimeId);
    throw error;
  }
  return { runtimeId: identity.runtimeId, info, url };
}

/**
 * Waits until `runtimeId` reports HEALTHY, at most `timeoutMs`
 * (`deadline_exceeded` after that). `cancel()` stops waiting.
 * @private
 */
export function waitForHealthy(
  deps: { health: PluginHealthTable; events: EventStream<HostEvent> },
  runtimeId: string,
  timeoutMs: number,
) {
  let cancel = () => {};
  const promise = new Promise<void>((resolve, reject) => {
    const unsubscribe = deps.events.subscribe((event) => {
      if (
        event.type === "health.changed" &&
        event.runtimeId === runtimeId &&
        event.state === HealthState.HEALTHY
      ) {
        done();
        resolve();
      }
    });
    const timer = setTimeout(() => {
      done();
      reject(
        new ConnectError(
          `plugin ${runtimeId} did not report HEALTHY within ${timeoutMs} ms`,
          Code.DeadlineExceeded,
        ),
      );
    }, timeoutMs);
    const done = () => {
      clearTimeout(timer);
      unsubscribe();
    };
    cancel = done;
    if (deps.health.get(runtimeId)?.state === HealthState.HEALTHY) {
      done();
      resolve();
    }
  });
  promise.catch(() => {});
  return { promise, cancel };
}
