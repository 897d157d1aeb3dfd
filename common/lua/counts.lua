-- counts: what the admission controller needs of a room each tick, in one call.
-- KEYS: seq, boundary, left, admitted, active, rejoin, sig, cfg, ctl
-- Returns {seq, boundary, waiting, admitted_unclaimed, active, {gateway, signals, ...}, {cfg...},
-- {inventory, cfg_inventory}}: waiting counts the places beyond the boundary not left (abandoned ones
-- included until the boundary passes them) plus the rejoin lane; then the gateways' latest origin signals
-- (HGETALL of sig), the organiser's live settings (HGETALL of cfg), and what the last leader recorded of
-- the inventory (the tickets left, and the organiser's inventory_remaining it had applied), so a new
-- leader starts from them instead of from "unknown".
local seq = tonumber(redis.call('GET', KEYS[1]) or '0')
local b = tonumber(redis.call('GET', KEYS[2]) or '0')
local left = redis.call('ZCOUNT', KEYS[3], '(' .. b, '+inf')
local waiting = seq - b - left + redis.call('ZCARD', KEYS[6])
if waiting < 0 then waiting = 0 end
return {seq, b, waiting, redis.call('ZCARD', KEYS[4]), redis.call('ZCARD', KEYS[5]),
  redis.call('HGETALL', KEYS[7]), redis.call('HGETALL', KEYS[8]),
  redis.call('HMGET', KEYS[9], 'inventory', 'cfg_inventory')}
