-- view: one consistent snapshot of a room for a gateway's cache.
-- KEYS: boundary, seq, left
-- ARGV: max_left
-- Returns {boundary, seq, left serials beyond the boundary (at most max_left)...}.
local b = tonumber(redis.call('GET', KEYS[1]) or '0')
local out = {b, tonumber(redis.call('GET', KEYS[2]) or '0')}
for _, s in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], '(' .. b, '+inf', 'LIMIT', 0, tonumber(ARGV[1]))) do
  out[#out + 1] = tonumber(s)
end
return out
