/**
 * A runtime identity issued by the host: who a plugin instance is while it
 * runs, and the bearer token that proves it.
 */
export interface RuntimeIdentity {
  /** Opaque runtime id: lower-cased self_id, `-`, random hex. */
  readonly runtimeId: string;
  /** The plugin's self_id. */
  readonly selfId: string;
  /** The plugin's self_version ("" when not given). */
  readonly selfVersion: string;
  /** Bearer token proving the runtime id. */
  readonly token: string;
  /** When the token expires, Unix milliseconds. */
  readonly expiresAt: number;
  /** True for plugins the host launched itself (managed model). */
  readonly managed: boolean;
  /**
   * Identity of the client certificate the plugin presented when the
   * identity was issued (mTLS), e.g. a SPIFFE ID. Calls authenticated with
   * this runtime token must then present the same certificate identity.
   */
  readonly peerIdentity: string | undefined;
  /** Service types the plugin declared it needs (cpg handshake extension). */
  readonly requires: readonly string[];
}
