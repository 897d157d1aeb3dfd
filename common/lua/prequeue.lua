-- prequeue: a visitor arrives before the opening. They are put in the pre-queue, ordered by a keyed
-- hash of their visitor id under the room's secret seed: SHA-1(seed hex .. visitor hex), in hex. The
-- order is fixed by the seed, which was committed to before anyone arrived, so nobody (the organiser
-- included) can place a visitor after seeing who came; at the opening open.lua hands out serials in
-- that order and reveals the seed, and scripts/verify-shuffle re-derives it from the audit stream.
-- KEYS: pre, shuffle, log
-- ARGV: visitor(hex), now_ms, gateway, log_maxlen, op ('join' | 'leave')
-- Returns 0 (pre-queued / left), -1 the room has opened already (join normally), -2 no seed yet.
local h = redis.call('HMGET', KEYS[2], 'seed', 'opened')
if h[2] == '1' then return -1 end
if not h[1] then return -2 end
local member = redis.sha1hex(h[1] .. ARGV[1]) .. ':' .. ARGV[1]
if ARGV[5] == 'leave' then
  if redis.call('ZREM', KEYS[1], member) == 1 then
    redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[4], '*', 'ev', 'left', 'serial', 0, 'visitor', ARGV[1],
      'gw', ARGV[3], 'ms', ARGV[2])
  end
  return 0
end
if redis.call('ZADD', KEYS[1], 'NX', 0, member) == 1 then
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[4], '*', 'ev', 'prejoined', 'serial', 0, 'visitor', ARGV[1],
    'gw', ARGV[3], 'ms', ARGV[2])
end
return 0
