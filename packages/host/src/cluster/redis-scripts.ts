/**
 * The Lua scripts behind the shared state store. Each runs atomically in
 * Redis, so a record and the change stream entry announcing it are written
 * together or not at all, and every replica sees the same order.
 */

/**
 * Applies one change. KEYS: change stream, sequence counter, lease set.
 * ARGV: stream length cap, change JSON, origin replica, origin version,
 * announce (`always` | `changed`), lease runtime id (or ""), lease TTL ms,
 * required runtime id (or ""), runtime hash, then operations in groups of
 * four: name, key, a, b.
 * Operations: `hset` key field value, `hdel` key field, `sadd` key member,
 * `del` key, `hdelset` hash set (deletes every field named in set),
 * `zrem` key member.
 * Returns `{stream id, seq}`, `"unchanged"` (nothing to announce) or
 * `"gone"` (the required runtime has no record: its lease ran out).
 */
export const WRITE_SCRIPT = `
local required = ARGV[8]
if required ~= "" and redis.call("HEXISTS", ARGV[9], required) == 0 then
  return "gone"
end
local changed = false
local i = 10
while i + 3 <= #ARGV do
  local op, key, a, b = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  if op == "hset" then
    if redis.call("HGET", key, a) ~= b then
      redis.call("HSET", key, a, b)
      changed = true
    end
  elseif op == "hdel" then
    if redis.call("HDEL", key, a) > 0 then changed = true end
  elseif op == "sadd" then
    redis.call("SADD", key, a)
  elseif op == "del" then
    if redis.call("DEL", key) > 0 then changed = true end
  elseif op == "hdelset" then
    local members = redis.call("SMEMBERS", a)
    for _, m in ipairs(members) do redis.call("HDEL", key, m) end
  elseif op == "zrem" then
    redis.call("ZREM", key, a)
  end
  i = i + 4
end
if ARGV[6] ~= "" then
  local t = redis.call("TIME")
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  redis.call("ZADD", KEYS[3], now + tonumber(ARGV[7]), ARGV[6])
end
if ARGV[5] == "changed" and not changed then
  return "unchanged"
end
local seq = redis.call("INCR", KEYS[2])
local id = redis.call("XADD", KEYS[1], "MAXLEN", "~", ARGV[1], "*",
  "c", ARGV[2], "o", ARGV[3], "v", ARGV[4], "s", tostring(seq))
return {id, seq}
`;

/**
 * Ends the runtimes whose lease ran out, by Redis's clock. KEYS: lease set,
 * runtime, registration, health and grant hashes, change stream, sequence
 * counter. ARGV: key prefix, stream length cap, most runtimes per run.
 * Returns how many runtimes it ended.
 */
export const REAP_SCRIPT = `
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local due = redis.call("ZRANGEBYSCORE", KEYS[1], "-inf", now, "LIMIT", 0, tonumber(ARGV[3]))
for _, rt in ipairs(due) do
  redis.call("ZREM", KEYS[1], rt)
  redis.call("HDEL", KEYS[2], rt)
  redis.call("HDEL", KEYS[4], rt)
  local regs = ARGV[1] .. ":runtime-registrations:" .. rt
  for _, m in ipairs(redis.call("SMEMBERS", regs)) do redis.call("HDEL", KEYS[3], m) end
  redis.call("DEL", regs)
  local grants = ARGV[1] .. ":runtime-grants:" .. rt
  for _, m in ipairs(redis.call("SMEMBERS", grants)) do redis.call("HDEL", KEYS[5], m) end
  redis.call("DEL", grants)
  local seq = redis.call("INCR", KEYS[7])
  redis.call("XADD", KEYS[6], "MAXLEN", "~", ARGV[2], "*",
    "c", cjson.encode({kind = "runtime.expired", runtimeId = rt}), "o", "lease-reaper", "v", "0",
    "s", tostring(seq))
end
return #due
`;
