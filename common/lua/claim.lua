-- claim: a visitor whose serial the boundary has passed shows up (polls or requests).
-- KEYS: boundary, admitted, active, rejoin, log, ended, owed, revoked, skipped, tick
-- ARGV: serial, visitor(hex), now_ms, session_ms, claim_ms, gateway, log_maxlen, keep_ms (see release.lua),
--       rejoin_window_ms, had_session (1: the visitor's token says this place had its session)
-- A place the boundary passed without its visitor rejoins at the front only within rejoin_window_ms
-- of being skipped (admit.lua notes when): later it is spent (5), so nobody can hold early places for
-- free and cash them in at leisure.
-- Returns {status, expires_ms}: 1 claimed now (a session until expires_ms), 2 skipped earlier and now
-- queued in the rejoin lane (admitted next), 3 still waiting (the boundary has not passed it),
-- 4 already has an active session (until expires_ms), 5 had its session and it is over (released or
-- expired): this place is spent, and a token replayed afterwards gets no second turn.
local s, now = tonumber(ARGV[1]), tonumber(ARGV[3])
local session_ms, claim_ms = tonumber(ARGV[4]), tonumber(ARGV[5])
local function log(ev)
  redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[7], '*', 'ev', ev, 'serial', s, 'visitor', ARGV[2],
    'gw', ARGV[6], 'ms', now)
end
local active = redis.call('ZSCORE', KEYS[3], s)
if active then
  if tonumber(active) > now then
    return {4, tonumber(active)}
  end
  redis.call('ZREM', KEYS[3], s) -- ran out before the controller's tick noticed
  redis.call('XADD', KEYS[8], 'MINID', '~', string.format('%d', math.max(0, now - tonumber(ARGV[8]))), '*', 's', s,
    'ms', now)
  if redis.call('ZREM', KEYS[7], s) == 1 then
    redis.call('ZADD', KEYS[4], 0, s) -- the origin failed this buyer: let in again first
    log('owed')
    return {2, 0}
  end
  redis.call('ZADD', KEYS[6], now, s)
  log('expired')
  return {5, 0}
end
if redis.call('ZSCORE', KEYS[6], s) then
  return {5, 0}
end
local at = redis.call('ZSCORE', KEYS[2], s)
if at then
  redis.call('ZREM', KEYS[2], s)
  if now - tonumber(at) <= claim_ms then
    redis.call('ZADD', KEYS[3], now + session_ms, s)
    log('claimed')
    return {1, now + session_ms}
  end
  log('no_show') -- came after the claim window: capacity already counted as returned
  redis.call('ZADD', KEYS[9], 'NX', now, s)
end
if s > tonumber(redis.call('GET', KEYS[1]) or '0') then
  return {3, 0}
end
-- Skipped too long ago: spent. No note at all means skipped before the window (trimmed), unless the
-- notes began only lately (Redis lost its data: then the place is given the benefit of the doubt).
local skipped = redis.call('ZSCORE', KEYS[9], s)
-- The token was marked when its place had its session; no note of it here means Redis lost it: the
-- place stays spent (no second session), as its 'ended' note would have said.
if ARGV[10] == '1' and not skipped and not redis.call('ZSCORE', KEYS[4], s) then
  redis.call('ZADD', KEYS[6], now, s)
  log('spent')
  return {5, 0}
end
local window = tonumber(ARGV[9])
local since = tonumber(redis.call('HGET', KEYS[10], 'skipped_since') or '0')
local late = skipped and now - tonumber(skipped) > window
local unknown_old = not skipped and since > 0 and now - since > window
if not redis.call('ZSCORE', KEYS[4], s) and (late or unknown_old) then
  log('rejoin_refused')
  return {5, 0}
end
if redis.call('ZADD', KEYS[4], 'NX', s, s) == 1 then
  log('rejoined')
end
return {2, 0}
