-- lease: the admission controller's leadership, one per Redis. A controller calls it every tick (well
-- inside the TTL): the holder renews; anyone else takes the lease only once it has expired, and each
-- takeover increments the fencing epoch, which admit.lua checks, so an old leader that was paused or
-- partitioned past its lease can never move a boundary again.
-- KEYS: leader, epoch
-- ARGV: controller id, ttl_ms, now_ms
-- Returns {state, epoch}: 1 renewed (still the leader), 2 took over (a new epoch), 0 someone else leads.
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return {1, tonumber(redis.call('GET', KEYS[2]) or '0')}
end
if holder then
  return {0, tonumber(redis.call('GET', KEYS[2]) or '0')}
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
local epoch = redis.call('INCR', KEYS[2])
return {2, epoch}
