-- release: a session ends, by the origin's word (done), or by expiry.
-- KEYS: active, log
-- ARGV: serial, visitor(hex), now_ms, reason ('released' | 'expired'), gateway, log_maxlen
local s = ARGV[1]
if redis.call('ZREM', KEYS[1], s) == 0 then
  return 0
end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[6], '*', 'ev', ARGV[4], 'serial', s, 'visitor', ARGV[2],
  'gw', ARGV[5], 'ms', ARGV[3])
return 1
