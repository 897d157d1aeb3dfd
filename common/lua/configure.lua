-- configure: an organiser's live change to a room (PATCH /v1/rooms/NAME), applied atomically and
-- recorded in the audit stream with what changed. Gateways and wr-admission read wr:{ROOM}:cfg on
-- their next refresh or tick (<= 250 ms); a field absent from it means "as in the config file".
-- KEYS: cfg, ctl, log, shuffle
-- ARGV: now_ms, who, log_maxlen, field1, value1, field2, value2, ...
-- Opening the room (state = open) also lifts a sold-out that wr-admission set at zero inventory.
-- open_at can move only until the room's draw begins (open.lua checks it under the same lock; once
-- the draw has begun its serials are reserved and it runs to its end).
-- Returns the number of fields changed, or -1 (nothing changed) if open_at came after that.
local d = redis.call('HMGET', KEYS[4], 'opened', 'drawing')
for i = 4, #ARGV, 2 do
  if ARGV[i] == 'open_at' and (d[1] == '1' or d[2] == '1') then
    return -1
  end
end
local changed, what = 0, {}
for i = 4, #ARGV, 2 do
  local old = redis.call('HGET', KEYS[1], ARGV[i])
  if old ~= ARGV[i + 1] then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
    changed = changed + 1
    what[#what + 1] = ARGV[i] .. '=' .. ARGV[i + 1]
  end
  if ARGV[i] == 'state' and ARGV[i + 1] == 'open' then
    redis.call('HDEL', KEYS[2], 'sold_out')
  end
end
if changed > 0 then
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[3], '*', 'ev', 'config', 'serial', 0, 'changes',
    table.concat(what, ' '), 'who', ARGV[2], 'ms', ARGV[1])
end
return changed
