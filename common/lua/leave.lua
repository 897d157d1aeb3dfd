-- leave: a waiting visitor gives up their place; it is free at once.
-- KEYS: boundary, left, log
-- ARGV: serial, visitor(hex), now_ms, gateway, log_maxlen
-- Returns 1 if the place was freed, 0 if the boundary had already passed it (nothing to free).
local s = tonumber(ARGV[1])
if s <= tonumber(redis.call('GET', KEYS[1]) or '0') then
  return 0
end
if redis.call('ZADD', KEYS[2], s, s) == 0 then
  return 1 -- already left: the button pressed twice
end
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[5], '*', 'ev', 'left', 'serial', s, 'visitor', ARGV[2],
  'gw', ARGV[4], 'ms', ARGV[3])
return 1
