-- prequeue: a visitor arrives before the opening. They are put in the pre-queue, ordered by a keyed
-- hash of their visitor id under the room's secret seed: SHA-1(seed hex .. visitor hex), in hex. The
-- order is fixed by the seed, which was committed to before anyone arrived, so nobody (the organiser
-- included) can place a visitor after seeing who came; at the opening open.lua hands out serials in
-- that order and reveals the seed, and scripts/verify-shuffle re-derives it from the audit stream.
-- KEYS: pre, shuffle, log
-- ARGV: visitor(hex), now_ms, gateway, log_maxlen, op ('join' | 'leave'), max (the pre-queue's cap)
-- Returns 0 (pre-queued / left), -1 the room has opened (join normally), -2 no seed yet, -3 the
-- pre-queue is full (max entries): the visitor joins first-come at the opening, -4 the draw has begun:
-- a newcomer joins normally (after the whole pre-queue), but the room is not open until it is done.
local h = redis.call('HMGET', KEYS[2], 'seed', 'opened', 'drawing')
if h[2] == '1' then return -1 end
if h[3] == '1' and ARGV[5] == 'join' then return -4 end
if not h[1] then return -2 end
local member = redis.sha1hex(h[1] .. ARGV[1]) .. ':' .. ARGV[1]
if ARGV[5] == 'leave' then
  if redis.call('ZREM', KEYS[1], member) == 1 then
    redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[4], '*', 'ev', 'left', 'serial', 0, 'visitor', ARGV[1],
      'gw', ARGV[3], 'ms', ARGV[2])
  end
  return 0
end
if not redis.call('ZSCORE', KEYS[1], member) and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[6]) then
  return -3
end
if redis.call('ZADD', KEYS[1], 'NX', 0, member) == 1 then
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[4], '*', 'ev', 'prejoined', 'serial', 0, 'visitor', ARGV[1],
    'gw', ARGV[3], 'ms', ARGV[2])
end
return 0
