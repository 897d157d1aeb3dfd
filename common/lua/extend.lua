-- extend: a session's end moves later, on the buyer's activity or as grace after an origin failure.
-- KEYS: active, log, owed, ended
-- A grace (the origin failed the buyer) also marks the session as owed: if it then runs out without the
-- buyer completing, admit.lua puts them in the rejoin lane, let in again before anyone new.
-- ARGV: serial, visitor(hex), now_ms, new_end_ms, reason ('extended' | 'grace'), gateway, log_maxlen,
--       origin status (grace: the 5xx, or 504 for a timeout; else 0)
-- Returns 1 if the end moved, 0 if the session is active and its end stays, -1 if the session is over
-- (ended, or past its end), -2 if Redis does not know it (its data was lost): in neither case may a pass
-- be renewed; the gateway tells an ended buyer so, and lets an unknown one keep the pass it has. A grace is logged even if it did not (the origin failed a buyer: support
-- needs to know), an activity extension only when it moved. Ended sessions are not brought back.
local s, now, new_end = ARGV[1], tonumber(ARGV[3]), tonumber(ARGV[4])
local cur = redis.call('ZSCORE', KEYS[1], s)
local moved = 0
if cur and tonumber(cur) > now and tonumber(cur) < new_end then
  redis.call('ZADD', KEYS[1], 'XX', new_end, s)
  moved = 1
end
if ARGV[5] == 'grace' and cur then
  redis.call('ZADD', KEYS[3], now, s)
end
if moved == 1 or ARGV[5] == 'grace' then
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[7], '*', 'ev', ARGV[5] == 'grace' and 'origin_error' or 'extended',
    'serial', s, 'visitor', ARGV[2], 'gw', ARGV[6], 'ms', now, 'until', new_end, 'status', ARGV[8])
end
if not cur then
  return redis.call('ZSCORE', KEYS[4], s) and -1 or -2
end
if tonumber(cur) <= now then
  return -1
end
return moved
