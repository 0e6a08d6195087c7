/**
 * The replicas of a host a plugin talks to, and which one it uses now.
 *
 * Replicas of a replicated host share all state (runtime identities,
 * registrations, grants), so a plugin can move from one to the next without
 * joining again. It stays on the current replica until a call finds it
 * unreachable, then moves to the next one in the list, round-robin.
 * @private
 */
export interface HostReplicas {
  /** Every replica's base URL, in the configured order. */
  readonly urls: readonly string[];
  /** Base URL of the replica calls go to now. */
  readonly current: string;
  /** Makes `url` (one of `urls`) the current replica, e.g. the one a join reached. */
  use(url: string): void;
  /**
   * Records that `failed` could not be reached. When it is still the current
   * replica, the next one in the list becomes current (a call that failed on
   * a replica another call already moved away from changes nothing).
   * Returns the current replica.
   */
  failover(failed: string): string;
  /**
   * Runs `attempt` on the current replica. When it fails with an error that
   * `shouldFailOver` accepts, fails over and runs it once on each other
   * replica, until one succeeds; then rejects with the last error.
   */
  call<T>(
    attempt: (url: string) => Promise<T>,
    shouldFailOver: (error: unknown) => boolean,
  ): Promise<T>;
}

/**
 * Creates {@link HostReplicas}, starting at the first URL. `onFailover`
 * runs each time the current replica changes because one failed.
 * @private
 */
export function createHostReplicas(options: {
  urls: readonly string[];
  onFailover?: (from: string, to: string) => void;
}): HostReplicas {
  const urls = [...options.urls];
  if (urls.length === 0) throw new TypeError("createHostReplicas needs at least one URL");
  let index = 0;

  const replicas: HostReplicas = {
    urls,
    get current() {
      return urls[index]!;
    },
    use(url) {
      const i = urls.indexOf(url);
      if (i < 0) throw new TypeError(`${url} is not one of the host replicas`);
      index = i;
    },
    failover(failed) {
      if (urls[index] !== failed || urls.length === 1) return urls[index]!;
      index = (index + 1) % urls.length;
      options.onFailover?.(failed, urls[index]!);
      return urls[index]!;
    },
    async call(attempt, shouldFailOver) {
      for (let tries = 1; ; tries++) {
        const url = replicas.current;
        try {
          return await attempt(url);
        } catch (error) {
          if (!shouldFailOver(error)) throw error;
          replicas.failover(url);
          if (tries >= urls.length) throw error;
        }
      }
    },
  };
  return replicas;
}
