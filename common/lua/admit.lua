-- admit: one admission tick. Moves the boundary and admits up to n visitors.
-- KEYS: seq, boundary, seen, left, admitted, rejoin, log, tick, epoch, active, ended, owed, revoked, skipped
-- A session that runs out after the origin failed its buyer (owed, see extend.lua) is not over: the buyer
-- goes to the rejoin lane and is let in again first ('owed' event).
-- ARGV: n, now_ms, abandon_ms, claim_ms, tick_id, epoch, gateway_or_controller, log_maxlen, max_scan,
--       keep_ms (the longest a pass can live; see release.lua), rejoin_window_ms
-- Places skipped without their visitor (no-shows, abandoned) are noted in `skipped` when first skipped:
-- claim.lua lets such a visitor rejoin at the front only within rejoin_window_ms of it.
-- Sessions that run out are revoked (`revoked`): their passes stop working on every gateway.
-- A place never seen is abandoned, unless the tick hash says Redis lost the room lately (restored_ms,
-- restore.lua): its heartbeats were lost with it, so it is given one abandon timeout from then.
-- Returns {admitted, boundary, no_shows, abandoned, skipped_left, expired}.
-- Refuses (error FENCED) a caller whose epoch is older than the room's, so a paused old controller
-- cannot move the boundary; a tick id already applied returns the stored result and changes nothing
-- (tick ids must grow across leaders too: the controller uses epoch * 2^32 + its own tick count).
local n, now = tonumber(ARGV[1]), tonumber(ARGV[2])
local abandon_ms, claim_ms = tonumber(ARGV[3]), tonumber(ARGV[4])
local tick, who, maxlen, max_scan = tonumber(ARGV[5]), ARGV[7], ARGV[8], tonumber(ARGV[9])

-- The epoch (lease.lua's, incremented on every takeover) only goes up: a newer leader's first call raises
-- the room's, and from then on the older leader's calls are refused.
local cur_epoch = tonumber(redis.call('GET', KEYS[9]) or '0')
local epoch = tonumber(ARGV[6])
if epoch < cur_epoch then
  return redis.error_reply('FENCED current epoch ' .. cur_epoch)
elseif epoch > cur_epoch then
  redis.call('SET', KEYS[9], epoch)
end
local last = redis.call('HMGET', KEYS[8], 'id', 'admitted', 'boundary', 'no_shows', 'abandoned', 'left',
  'expired')
if last[1] and tonumber(last[1]) >= tick then
  return {tonumber(last[2]), tonumber(last[3]), tonumber(last[4]), tonumber(last[5]), tonumber(last[6]),
    tonumber(last[7] or '0')}
end

local function log(ev, s)
  redis.call('XADD', KEYS[7], 'MAXLEN', '~', maxlen, '*', 'ev', ev, 'serial', s, 'gw', who, 'ms', now)
end

-- claim-window no-shows give their capacity back at once
local no_shows = 0
for _, s in ipairs(redis.call('ZRANGEBYSCORE', KEYS[5], '-inf', now - claim_ms)) do
  redis.call('ZREM', KEYS[5], s)
  log('no_show', s)
  redis.call('ZADD', KEYS[14], 'NX', now, s)
  no_shows = no_shows + 1
end

-- sessions past their end (no release came): over, and their capacity is back
local expired = 0
for _, s in ipairs(redis.call('ZRANGEBYSCORE', KEYS[10], '-inf', now)) do
  redis.call('ZREM', KEYS[10], s)
  redis.call('XADD', KEYS[13], 'MINID', '~', string.format('%d', math.max(0, now - tonumber(ARGV[10]))), '*', 's', s,
    'ms', now)
  if redis.call('ZREM', KEYS[12], s) == 1 then
    redis.call('ZADD', KEYS[6], 0, s) -- score 0: ahead of everyone in the rejoin lane
    log('owed', s)
  else
    redis.call('ZADD', KEYS[11], now, s)
    log('expired', s)
  end
  expired = expired + 1
end

-- since when `skipped` is complete (a Redis that lost its data starts it again): see claim.lua
redis.call('HSETNX', KEYS[8], 'skipped_since', now)
redis.call('ZREMRANGEBYSCORE', KEYS[14], '-inf', '(' .. string.format('%d', now - tonumber(ARGV[11])))

local admitted = 0
-- owed first: skipped visitors who came back
while admitted < n do
  local r = redis.call('ZPOPMIN', KEYS[6])
  if #r == 0 then break end
  redis.call('ZADD', KEYS[5], now, r[1])
  log('admitted', r[1])
  admitted = admitted + 1
end

local restored_ms = tonumber(redis.call('HGET', KEYS[8], 'restored_ms') or '-1e18')
local b = tonumber(redis.call('GET', KEYS[2]) or '0')
local seq = tonumber(redis.call('GET', KEYS[1]) or '0')
local cur = math.floor(now / 4000) % 65535 + 1
local abandoned, skipped_left, scanned = 0, 0, 0
while admitted < n and b < seq and scanned < max_scan do
  b = b + 1
  scanned = scanned + 1
  if redis.call('ZREM', KEYS[4], b) == 1 then
    skipped_left = skipped_left + 1
  else
    local seen = redis.call('BITFIELD', KEYS[3], 'GET', 'u16', '#' .. b)[1]
    local age_ms = ((cur - seen) % 65535) * 4000
    -- never seen, unless Redis lost its notes lately: then the place is given one abandon timeout
    if (seen == 0 and now - restored_ms > abandon_ms) or (seen ~= 0 and age_ms > abandon_ms) then
      log('abandoned', b)
      redis.call('ZADD', KEYS[14], 'NX', now, b)
      abandoned = abandoned + 1
    else
      redis.call('ZADD', KEYS[5], now, b)
      log('admitted', b)
      admitted = admitted + 1
    end
  end
end
redis.call('SET', KEYS[2], b)
redis.call('HSET', KEYS[8], 'id', tick, 'admitted', admitted, 'boundary', b, 'no_shows', no_shows,
  'abandoned', abandoned, 'left', skipped_left, 'expired', expired, 'ms', now)
return {admitted, b, no_shows, abandoned, skipped_left, expired}
