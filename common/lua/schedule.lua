-- schedule: a scheduled room's draw gets its secret seed, once. The first gateway to ask stores the
-- seed it drew and the seed's SHA-256 (the commitment, published at once); later callers get the
-- stored commitment. The seed stays secret until the opening (open.lua reveals it in the audit stream).
-- KEYS: shuffle, log
-- ARGV: seed(hex), commitment(hex, SHA-256 of the seed's bytes), now_ms, gateway, log_maxlen
-- Returns {commitment, opened (0|1), seed if opened else "", since_ms (when this seed was drawn)}.
-- A gateway that sees a newer since_ms than a pre-queued visitor's token knows Redis lost the pre-queue
-- that visitor was in, and puts them in again.
if redis.call('HSETNX', KEYS[1], 'seed', ARGV[1]) == 1 then
  redis.call('HSET', KEYS[1], 'commitment', ARGV[2], 'opened', 0, 'since', ARGV[3])
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[5], '*', 'ev', 'scheduled', 'serial', 0,
    'commitment', ARGV[2], 'gw', ARGV[4], 'ms', ARGV[3])
end
local h = redis.call('HMGET', KEYS[1], 'commitment', 'opened', 'seed', 'since')
local opened = tonumber(h[2] or '0')
return {h[1], opened, opened == 1 and h[3] or '', tonumber(h[4] or '0')}
