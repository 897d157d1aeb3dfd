-- open: the opening of a scheduled room, in slices. The pre-queue, already in the order of the keyed
-- hash (see prequeue.lua), gets the first serials; the seed is revealed when the last slice is done.
-- The first call at or after open_at reserves the serials (seq moves past the whole pre-queue, so a
-- visitor who joins during the draw comes after it) and marks the draw started (from then on nobody
-- enters the pre-queue); each call then draws at most `slice` visitors, so Redis is never blocked for
-- more than a few milliseconds (about 5 us a visitor), and the gateways call again until it is done.
-- Idempotent: every gateway calls it; the slices are shared.
-- KEYS: pre, shuffle, log, seq, seen, presorted, cfg, left
-- ARGV: now_ms, gateway, log_maxlen, open_at (unix seconds, as configured), slice
-- Returns {base, count, seed}: the draw is done, serials base+1 .. base+count went to the pre-queue;
-- {-2, drawn so far, ''}: call again; or {-1, open_at, ''} if the opening time (as the organiser last set
-- it in cfg, else as configured) has not come yet.
local now = tonumber(ARGV[1])
local h = redis.call('HMGET', KEYS[2], 'opened', 'base', 'count', 'seed', 'commitment', 'drawing', 'done')
if h[1] == '1' then
  return {tonumber(h[2]), tonumber(h[3]), h[4] or ''}
end
local base, count, done
if h[6] == '1' then
  base, count, done = tonumber(h[2]), tonumber(h[3]), tonumber(h[7])
else
  local at = tonumber(redis.call('HGET', KEYS[7], 'open_at') or ARGV[4]) or 0
  if now < at * 1000 then
    return {-1, at, ''}
  end
  base = tonumber(redis.call('GET', KEYS[4]) or '0')
  count = redis.call('ZCARD', KEYS[1])
  done = 0
  redis.call('SET', KEYS[4], base + count)
  redis.call('HSET', KEYS[2], 'drawing', 1, 'base', base, 'count', count, 'done', 0, 'drawing_ms', now)
end
local members = redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[5]) - 1)
local cur = math.floor(now / 4000) % 65535 + 1
for i, m in ipairs(members) do
  local visitor = string.sub(m, 42)
  local serial = base + done + i
  redis.call('HSET', KEYS[6], visitor, serial)
  redis.call('BITFIELD', KEYS[5], 'SET', 'u16', '#' .. serial, cur)
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[3], '*', 'ev', 'drawn', 'serial', serial, 'visitor', visitor,
    'rank', string.sub(m, 1, 40), 'gw', ARGV[2], 'ms', now)
end
if #members > 0 then
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, #members - 1)
end
done = done + #members
redis.call('HSET', KEYS[2], 'done', done)
if #members > 0 and done < count then
  return {-2, done, ''}
end
-- done: serials reserved for visitors who left the pre-queue during the draw are skipped as left
for s = base + done + 1, base + count do
  redis.call('ZADD', KEYS[8], s, s)
end
redis.call('HSET', KEYS[2], 'opened', 1, 'count', done, 'opened_ms', now)
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[3], '*', 'ev', 'opened', 'serial', base, 'count', done,
  'seed', h[4] or '', 'commitment', h[5] or '', 'gw', ARGV[2], 'ms', now)
redis.call('DEL', KEYS[1])
return {base, done, h[4] or ''}
