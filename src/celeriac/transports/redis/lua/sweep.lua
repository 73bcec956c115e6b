-- SWEEP: drop bookkeeping of messages celeriac no longer holds (kombu restored a lease and
-- a Celery worker acked it, so no celeriac ack ran). KEYS: 1 unacked, 2 raw unacked,
-- 3 owners, 4 delivery counters, 5 candidates (counter tag -> when first seen unleased).
-- ARGV: 1 "owners" | "counters", 2 now, 3 counter TTL, then tags. An owner entry only
-- means something while the message is leased: it goes at once. A delivery count must
-- outlive a restore (the message waits in a list, then is leased again), so a count
-- goes only once its message has been unleased for the TTL. Returns how many went.
local mode, now, ttl = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local dropped = 0
for i = 4, #ARGV do
    local tag = ARGV[i]
    local leased = redis.call('HEXISTS', KEYS[1], tag) == 1
        or redis.call('HEXISTS', KEYS[2], tag) == 1
    if mode == 'owners' then
        if not leased then
            dropped = dropped + redis.call('HDEL', KEYS[3], tag)
        end
    elseif leased or redis.call('HEXISTS', KEYS[4], tag) == 0 then
        redis.call('ZREM', KEYS[5], tag)
    else
        local since = redis.call('ZSCORE', KEYS[5], tag)
        if not since then
            redis.call('ZADD', KEYS[5], now, tag)
        elseif tonumber(since) <= now - ttl then
            dropped = dropped + redis.call('HDEL', KEYS[4], tag)
            redis.call('ZREM', KEYS[5], tag)
        end
    end
end
return dropped
