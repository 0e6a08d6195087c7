/**
 * One service a plugin registered with the host.
 */
export interface Registration {
  /** Registration id returned to the plugin. */
  readonly id: string;
  /** Runtime id of the provider. */
  readonly runtimeId: string;
  /** self_id of the provider. */
  readonly selfId: string;
  /** Service type. */
  readonly serviceType: string;
  /** Semantic version of the service. */
  readonly version: string;
  /** Path relative to the provider's base URL, e.g. `/logger.v1.Logger/`. */
  readonly endpointPath: string;
  /** Registration metadata as sent (including `base_url`). */
  readonly metadata: Readonly<Record<string, string>>;
  /** Where the provider listens, from `base_url` or the host's own knowledge. */
  readonly baseUrl: string | undefined;
  /** Whether the provider speaks HTTP/2 (metadata `http2` = `"true"`). */
  readonly http2: boolean;
  /** When it was registered, Unix milliseconds. */
  readonly registeredAt: number;
}
