-- restore: after Redis lost a room's data, a gateway puts back the highest boundary it had seen, so
-- admitted visitors stay admitted and waiting visitors' positions do not jump back up.
-- KEYS: boundary, seq, log
-- ARGV: floor, gateway, log_maxlen
-- Returns 1 if anything was raised, else 0.
local floor = tonumber(ARGV[1])
local changed = 0
if tonumber(redis.call('GET', KEYS[1]) or '0') < floor then
  redis.call('SET', KEYS[1], floor)
  changed = 1
end
if tonumber(redis.call('GET', KEYS[2]) or '0') < floor then
  redis.call('SET', KEYS[2], floor)
  changed = 1
end
if changed == 1 then
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[3], '*', 'ev', 'restored', 'serial', floor, 'gw', ARGV[2])
end
return changed
