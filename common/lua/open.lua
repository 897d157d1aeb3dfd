-- open: the opening of a scheduled room. The pre-queue, already in the order of the keyed hash (see
-- prequeue.lua), gets the first serials; the seed is revealed. Idempotent: every gateway calls it once
-- when open_at passes, the first one does the draw. Later arrivals join strictly first-come (join.lua).
-- One call does the whole pre-queue: about 1 s of Redis time per 200,000 pre-queued visitors.
-- KEYS: pre, shuffle, log, seq, seen, presorted, cfg
-- ARGV: now_ms, gateway, log_maxlen, open_at (unix seconds, as configured)
-- Returns {base, count, seed}: serials base+1 .. base+count went to the pre-queue; or {-1, open_at, ''}
-- if the opening time (as the organiser last set it in cfg, else as configured) has not come yet.
local now = tonumber(ARGV[1])
local h = redis.call('HMGET', KEYS[2], 'opened', 'base', 'count', 'seed', 'commitment')
if h[1] == '1' then
  return {tonumber(h[2]), tonumber(h[3]), h[4] or ''}
end
local at = tonumber(redis.call('HGET', KEYS[7], 'open_at') or ARGV[4]) or 0
if now < at * 1000 then
  return {-1, at, ''}
end
local base = tonumber(redis.call('GET', KEYS[4]) or '0')
local members = redis.call('ZRANGE', KEYS[1], 0, -1)
local cur = math.floor(now / 4000) % 65535 + 1
for i, m in ipairs(members) do
  local visitor = string.sub(m, 42)
  local serial = base + i
  redis.call('HSET', KEYS[6], visitor, serial)
  redis.call('BITFIELD', KEYS[5], 'SET', 'u16', '#' .. serial, cur)
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[3], '*', 'ev', 'drawn', 'serial', serial, 'visitor', visitor,
    'rank', string.sub(m, 1, 40), 'gw', ARGV[2], 'ms', now)
end
redis.call('SET', KEYS[4], base + #members)
redis.call('HSET', KEYS[2], 'opened', 1, 'base', base, 'count', #members, 'opened_ms', now)
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[3], '*', 'ev', 'opened', 'serial', base, 'count', #members,
  'seed', h[4] or '', 'commitment', h[5] or '', 'gw', ARGV[2], 'ms', now)
redis.call('DEL', KEYS[1])
return {base, #members, h[4] or ''}
