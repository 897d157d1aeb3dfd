-- view: one consistent snapshot of a room for a gateway's cache.
-- KEYS: boundary, seq, left, ctl, cfg, admitted, active, revoked
-- ARGV: max_left, revoked_after (the last revocation id this gateway read; "0" at first), max_revoked
-- Returns {boundary, seq, inventory + 1 (0: the origin never said), sold_out (1: wr-admission saw the
-- inventory reach zero), state set live by the organiser (0: none; 1 open, 2 scheduled, 3 paused,
-- 4 sold_out, 5 closed), admitted-not-claimed count, active sessions, the controller's rate x 1000,
-- open_at set live (unix seconds; 0: as configured), session_ttl_s set live (0: as configured),
-- the last revocation id read (a string; revoked_after if none is new), the number n of new revocations,
-- then n pairs (serial, revoked at ms), then the left serials beyond the boundary (at most max_left)...}.
local b = tonumber(redis.call('GET', KEYS[1]) or '0')
local ctl = redis.call('HMGET', KEYS[4], 'inventory', 'sold_out', 'rate_per_minute')
local inv = tonumber(ctl[1] or '-1') or -1
local states = {open = 1, scheduled = 2, paused = 3, sold_out = 4, closed = 5}
local cf = redis.call('HMGET', KEYS[5], 'state', 'open_at', 'session_ttl_s')
local st = states[cf[1] or ''] or 0
local out = {b, tonumber(redis.call('GET', KEYS[2]) or '0'), inv < 0 and 0 or inv + 1, tonumber(ctl[2] or '0') or 0,
  st, redis.call('ZCARD', KEYS[6]), redis.call('ZCARD', KEYS[7]), math.floor((tonumber(ctl[3] or '0') or 0) * 1000),
  tonumber(cf[2] or '0') or 0, tonumber(cf[3] or '0') or 0}
local revs = redis.call('XRANGE', KEYS[8], '(' .. ARGV[2], '+', 'COUNT', tonumber(ARGV[3]))
out[#out + 1] = #revs > 0 and revs[#revs][1] or ARGV[2]
out[#out + 1] = #revs
for _, e in ipairs(revs) do
  local f = {}
  for i = 1, #e[2], 2 do f[e[2][i]] = e[2][i + 1] end
  out[#out + 1] = tonumber(f['s'] or '0') or 0
  out[#out + 1] = tonumber(f['ms'] or '0') or 0
end
for _, s in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], '(' .. b, '+inf', 'LIMIT', 0, tonumber(ARGV[1]))) do
  out[#out + 1] = tonumber(s)
end
return out
