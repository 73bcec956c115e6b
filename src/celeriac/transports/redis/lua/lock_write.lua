-- LOCK_WRITE: write state only while holding the lock (a fence), renewing it.
-- KEYS: lock, state hash; ARGV: owner, ms, field, value, field, value...
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
for i = 3, #ARGV, 1000 do
    redis.call('HSET', KEYS[2], unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
return 1
