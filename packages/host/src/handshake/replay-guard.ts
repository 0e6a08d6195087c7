import { Code, ConnectError } from "@connectrpc/connect";

/**
 * Handshake replay protection (cpg extension fields `nonce` and
 * `timestamp_unix_ms`): a handshake must be fresh (its timestamp within
 * `windowMs` of the host's clock) and its nonce unused within that window.
 */
export interface ReplayGuard {
  /**
   * Checks a handshake's nonce and timestamp; throws `invalid_argument` for a
   * stale, replayed or malformed one, or when they are missing and
   * `required`. Records the nonce. Answers asynchronously when nonces are
   * kept in a shared store (`claim`).
   */
  check(nonce: string, timestampUnixMs: bigint): void | Promise<void>;
  /** Nonces remembered now. */
  readonly size: number;
}

/**
 * Creates a {@link ReplayGuard}. At most `maxNonces` nonces are remembered
 * (each for `windowMs`); when they are all fresh, further handshakes get
 * `resource_exhausted` rather than a weaker check.
 */
export function createReplayGuard(options: {
  windowMs: number;
  maxNonces: number;
  required: boolean;
  now: () => number;
  /**
   * Records a nonce in a store that host replicas share (for `windowMs`),
   * resolving false when it was there already. Default: none, nonces are
   * remembered in this process.
   */
  claim?: (nonce: string, windowMs: number) => Promise<boolean>;
}): ReplayGuard {
  const replayed = () =>
    new ConnectError(
      "handshake nonce was already used: replayed handshake refused",
      Code.InvalidArgument,
    );
  // Insertion order = expiry order, since every nonce lives exactly windowMs.
  const seen = new Map<string, number>();
  const evictExpired = (now: number) => {
    for (const [nonce, expires] of seen) {
      if (expires > now) break;
      seen.delete(nonce);
    }
  };
  const guard: Omit<ReplayGuard, "size"> = {
    check(nonce, timestampUnixMs) {
      if (nonce === "" && timestampUnixMs === 0n) {
        if (options.required) {
          throw new ConnectError(
            "this host requires handshake replay protection: send nonce and timestamp_unix_ms (cpg plugins do; connect-plugin-go peers are accepted under the development profile)",
            Code.InvalidArgument,
          );
        }
        return;
      }
      if (nonce.length < 16 || nonce.length > 128) {
        throw new ConnectError(
          `handshake nonce must be 16 to 128 characters, got ${nonce.length}`,
          Code.InvalidArgument,
        );
      }
      const now = options.now();
      const skew = Math.abs(now - Number(timestampUnixMs));
      if (!(skew <= options.windowMs)) {
        throw new ConnectError(
          `handshake timestamp is ${Math.round(skew / 1000)} s away from the host's clock (max: ${Math.round(options.windowMs / 1000)} s)`,
          Code.InvalidArgument,
        );
      }
      if (options.claim) {
        return options.claim(nonce, options.windowMs).then((fresh) => {
          if (!fresh) throw replayed();
        });
      }
      evictExpired(now);
      if (seen.has(nonce)) throw replayed();
      if (seen.size >= options.maxNonces) {
        throw new ConnectError(
          "too many handshakes in the replay window; try again later",
          Code.ResourceExhausted,
        );
      }
      seen.set(nonce, now + options.windowMs);
    },
  };
  // Not a getter in the literal: V8 keeps object literals with accessors in
  // slow dictionary mode, and every method call would pay for that.
  return Object.defineProperty(guard, "size", {
    get: () => seen.size,
    enumerable: true,
  }) as ReplayGuard;
}
