/**
 * The Lua token bucket run by Redis for every decision, atomically. Same
 * arithmetic as the in-memory store: the bucket is stored as the time (ms)
 * at which it is full again ("theoretical arrival time", GCRA).
 *
 * KEYS[1]: the bucket. ARGV: rate (tokens per second), burst, cost.
 * Returns `{allowed (0|1), remaining (whole tokens), retryAfterMs}`.
 *
 * Time comes from the Redis server's `TIME`, never from the caller, so host
 * replicas with skewed clocks agree. A bucket that is full again is exactly
 * as good as no bucket, so the key expires (`PX`) when it has refilled.
 * Denials write nothing.
 *
 * @private
 */
export const TOKEN_BUCKET_SCRIPT = `-- cpg token bucket (GCRA) v1
if redis.replicate_commands then redis.replicate_commands() end
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + tonumber(time[2]) / 1000
local per_token = 1000 / rate
local full = tonumber(redis.call('GET', KEYS[1]))
if full == nil or full < now then full = now end
local gap = full - now + cost * per_token
local left = (burst * per_token - gap) / per_token
if gap > burst * per_token + 1e-6 then
  return {0, math.floor(left + cost + 1e-9), math.ceil(-left * per_token - 1e-6)}
end
redis.call('SET', KEYS[1], now + gap, 'PX', math.max(1, math.ceil(gap)))
return {1, math.floor(left + 1e-9), 0}
`;

/**
 * SHA-1 of {@link TOKEN_BUCKET_SCRIPT}, for `EVALSHA`. A test recomputes it:
 * update it whenever the script changes.
 *
 * @private
 */
export const TOKEN_BUCKET_SCRIPT_SHA1 = "f38a4952148da740ace24211783615a6d84edfea";
