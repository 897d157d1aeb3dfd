-- join: give a visitor a place.
-- KEYS: seq, seen, log, presorted, tick (its restored_ms: restore.lua)
-- ARGV: visitor(hex), now_ms, gateway, want_serial (0 = new place), log_maxlen, floor, settle_ms
-- A visitor whose token has no serial yet (pre-queued before the opening, or given a provisional
-- place while Redis was unreachable) comes with want_serial 0: a pre-queued one gets the serial the
-- draw gave them (open.lua), anyone else a new place at the back.
-- want_serial > 0 is a visitor whose signed token holds a serial this Redis does not know (its data
-- was lost): the place is kept, and seq moves past it so no one else gets it.
-- floor is the highest serial the calling gateway has seen. A seq below it means Redis lost the room's
-- data: no new place is given (-3) until a gateway has put back what it knows (restore.lua), and for
-- settle_ms after each such restore, so every gateway has put back the serials it gave out before any
-- new one is given (two visitors never share a place). -3 answers are provisional places.
local now, want = tonumber(ARGV[2]), tonumber(ARGV[4])
local seq = tonumber(redis.call('GET', KEYS[1]) or '0')
if want == 0 then
  local drawn = redis.call('HGET', KEYS[4], ARGV[1])
  if drawn then return tonumber(drawn) end
  if tonumber(ARGV[6]) > seq then return -3 end
  local restored = redis.call('HGET', KEYS[5], 'restored_ms')
  if restored and now < tonumber(restored) + tonumber(ARGV[7]) then return -3 end
end
local serial, ev
if want > 0 then
  serial = want
  if seq < want then
    redis.call('SET', KEYS[1], want)
  end
  ev = 'rejoined'
else
  serial = redis.call('INCR', KEYS[1])
  ev = 'joined'
end
redis.call('BITFIELD', KEYS[2], 'SET', 'u16', '#' .. serial, math.floor(now / 4000) % 65535 + 1)
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[5], '*', 'ev', ev, 'serial', serial, 'visitor', ARGV[1],
  'gw', ARGV[3], 'ms', ARGV[2])
return serial
