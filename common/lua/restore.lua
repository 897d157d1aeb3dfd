-- restore: after Redis lost a room's data, a gateway puts back what it knows: the highest boundary it
-- has seen (admitted visitors stay admitted, waiting positions do not jump back up), the highest serial
-- it has seen (no new visitor gets a place someone already holds: join.lua gives no new place until
-- then, nor for its settle time after any restore that raised something), and the sessions it knows
-- ended (their passes and places stay spent).
-- KEYS: boundary, seq, log, tick, ended, revoked
-- restored_ms in the tick hash: join.lua's settle, and admit.lua gives places not seen since the loss
-- (their heartbeats were lost with it) one abandon timeout before counting them abandoned.
-- ARGV: boundary_floor, gateway, log_maxlen, seq_floor, now_ms, keep_ms, then pairs serial, ended_ms
-- Returns 1 if the boundary or seq was raised, else 0.
local bfloor, sfloor, now = tonumber(ARGV[1]), tonumber(ARGV[4]), tonumber(ARGV[5])
if sfloor < bfloor then sfloor = bfloor end
local changed = 0
if tonumber(redis.call('GET', KEYS[1]) or '0') < bfloor then
  redis.call('SET', KEYS[1], bfloor)
  changed = 1
end
if tonumber(redis.call('GET', KEYS[2]) or '0') < sfloor then
  redis.call('SET', KEYS[2], sfloor)
  changed = 1
end
local put = 0
for i = 7, #ARGV - 1, 2 do
  local s, ms = ARGV[i], tonumber(ARGV[i + 1])
  if redis.call('ZADD', KEYS[5], 'NX', ms, s) == 1 then
    put = put + 1
    redis.call('XADD', KEYS[6], 'MINID', '~', string.format('%d', math.max(0, now - tonumber(ARGV[6]))), '*',
      's', s, 'ms', ms)
  end
end
if changed == 1 then
  redis.call('HSET', KEYS[4], 'restored_ms', now)
end
if changed == 1 or put > 0 then
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[3], '*', 'ev', 'restored', 'serial', sfloor, 'boundary', bfloor,
    'ended', put, 'gw', ARGV[2])
end
return changed
