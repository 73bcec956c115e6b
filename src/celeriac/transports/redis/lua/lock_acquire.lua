-- LOCK_ACQUIRE: take the lock, or renew it when the caller already holds it.
-- KEYS: lock; ARGV: owner, ms.
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return 1
end
if holder then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
