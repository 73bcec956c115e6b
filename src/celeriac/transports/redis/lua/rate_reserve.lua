-- RATE_RESERVE: reserve the next slot of a GCRA rate limiter.
-- KEYS[1] the limiter key; ARGV: interval (s), burst. Uses the server's clock, so the
-- workers' clocks do not matter. Returns the wait in seconds as a string (Lua numbers
-- would be truncated to integers in the reply). The key expires once its slots passed.
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local interval = tonumber(ARGV[1])
local burst = math.max(1, tonumber(ARGV[2]))
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local wait = tat - (burst - 1) * interval - now
if wait < 0 then wait = 0 end
local new_tat = tat + interval
redis.call('SET', KEYS[1], string.format('%.6f', new_tat),
           'PX', math.ceil((new_tat - now) * 1000) + 1000)
return string.format('%.6f', wait)
