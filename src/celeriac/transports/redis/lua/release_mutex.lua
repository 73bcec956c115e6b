-- RELEASE_MUTEX: release the restore mutex only if we still hold it (redis-py's Lock does
-- the same, so kombu and celeriac share ``unacked_mutex``). KEYS: 1 mutex. ARGV: 1 our
-- token.
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
