-- GCRA, one decision per call, on Redis's own clock, so every replica shares one clock and one budget.
-- KEYS[1]: the client's bucket; ARGV: the interval in ms (an integer), the burst, the cost (at least 1).
-- Returns integers only: {allowed, remaining, retry_after_ms, next_unit_ms}.
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local step, burst, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local theoretical = math.max(tonumber(redis.call('GET', KEYS[1])) or now, now)
local after = theoretical + step * cost
local earliest = after - burst * step
if earliest > now then
  return {0, 0, earliest - now, earliest - now}
end
redis.call('SET', KEYS[1], after, 'PX', after - now)
local room = now - earliest
return {1, math.floor(room / step), 0, step - room % step}
