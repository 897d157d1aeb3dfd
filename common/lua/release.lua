-- release: a session ends, by the origin's word (done), or by expiry.
-- KEYS: active, log, ended, owed, revoked
-- ARGV: serial, visitor(hex), now_ms, reason ('released' | 'completed' | 'expired'), gateway, log_maxlen,
--       keep_ms (the longest a pass can live: revocations older than that are trimmed)
-- The serial goes to `ended`, so its queue token cannot claim a second session, and to `revoked`, so
-- every gateway refuses its pass within one view refresh.
local s = ARGV[1]
if redis.call('ZREM', KEYS[1], s) == 0 then
  return 0
end
redis.call('ZADD', KEYS[3], ARGV[3], s)
redis.call('ZREM', KEYS[4], s) -- done: nothing is owed any more
redis.call('XADD', KEYS[5], 'MINID', '~', string.format('%d', math.max(0, tonumber(ARGV[3]) - tonumber(ARGV[7]))), '*',
  's', s, 'ms', ARGV[3])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[6], '*', 'ev', ARGV[4], 'serial', s, 'visitor', ARGV[2],
  'gw', ARGV[5], 'ms', ARGV[3])
return 1
