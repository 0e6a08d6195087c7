/** A value, or a promise of it: what a {@link TokenStore} method returns. */
export type MaybePromise<T> = T | Promise<T>;

/**
 * One issued secret: the id it belongs to (a runtime id, a grant id, ...),
 * the token, the caller's value and the validity window. Entries are
 * immutable; refreshing replaces the entry.
 */
export interface TokenEntry<T> {
  /** The key of the entry, e.g. a runtime id or a grant id. Not secret. */
  readonly id: string;
  /** The secret bearer token. Never log it. */
  readonly token: string;
  /** What the token stands for, e.g. runtime metadata or a capability grant. */
  readonly value: T;
  /** When the current token was issued (ms since the epoch, store clock). */
  readonly issuedAt: number;
  /** When the entry stops being valid (ms since the epoch, store clock). */
  readonly expiresAt: number;
}

/**
 * Why an entry left a {@link TokenStore}:
 * `"expired"` (its time passed; found by a sweep or a lookup),
 * `"revoked"` (`revoke` / `revokeWhere`),
 * `"replaced"` (`issue` with `replace: true` over a live entry).
 */
export type TokenRemovalReason = "expired" | "revoked" | "replaced";

/** Options of {@link TokenStore.issue}. */
export interface IssueTokenOptions {
  /** Lifetime of this entry. Default: the store's `ttlMs`. */
  readonly ttlMs?: number;
  /**
   * Replace a live entry with the same id instead of failing with
   * `already_exists`. Default: `false`: ids must be unique, a collision is
   * reported rather than silently taking over another caller's identity.
   */
  readonly replace?: boolean;
}

/** Options of {@link TokenStore.refresh}. */
export interface RefreshTokenOptions {
  /** New lifetime, counted from now. Default: the store's `ttlMs`. */
  readonly ttlMs?: number;
  /** Issue a new token (the old one stops working at once). Default: `false`. */
  readonly rotate?: boolean;
}

/**
 * Stores secret tokens by id with expiry, for runtime identities and
 * capability grants. Methods may answer synchronously (the in-memory store)
 * or with a promise (a shared store such as Redis), so callers that accept
 * any store `await` the results.
 *
 * Expired entries behave as absent everywhere. Tokens are compared in
 * constant time.
 */
export interface TokenStore<T> {
  /**
   * Creates an entry with a fresh random token. Throws an `AuthError`:
   * `already_exists` when `id` has a live entry (unless `replace`),
   * `store_full` at the size bound, `random_source_failed`, `store_closed`.
   */
  issue(id: string, value: T, options?: IssueTokenOptions): MaybePromise<TokenEntry<T>>;
  /**
   * Returns the live entry of `id` if `token` is its token, else `undefined`
   * (unknown id, wrong token, expired, revoked).
   */
  verify(id: string, token: string): MaybePromise<TokenEntry<T> | undefined>;
  /** Returns the live entry of `id`, or `undefined`. */
  get(id: string): MaybePromise<TokenEntry<T> | undefined>;
  /**
   * Extends a live entry's lifetime (and optionally rotates its token).
   * Returns the new entry, or `undefined` when `id` has no live entry.
   */
  refresh(id: string, options?: RefreshTokenOptions): MaybePromise<TokenEntry<T> | undefined>;
  /** Removes the entry of `id`. Returns whether a live entry was removed. */
  revoke(id: string): MaybePromise<boolean>;
  /** Removes every live entry matching `predicate`. Returns how many. */
  revokeWhere(predicate: (entry: TokenEntry<T>) => boolean): MaybePromise<number>;
  /** Removes expired entries now. Returns how many. */
  sweep(): MaybePromise<number>;
  /** Number of stored entries (expired ones not yet swept included). */
  size(): MaybePromise<number>;
  /** Stops background work and drops the entries; later `issue`/`refresh` fail with `store_closed`. */
  close(): MaybePromise<void>;
}
