-- DEFER: park a leased message in its queue's ETA set until due, uncounted (a Celery
-- producer's countdown task reached a celeriac worker early). KEYS: 1 unacked,
-- 2 unacked_index, 3 delivery counters, 4 owners, 5 the queue's ETA set. ARGV: 1 tag,
-- 2 due time, 3 our consumer id.
local tag = ARGV[1]
if redis.call('HGET', KEYS[4], tag) ~= ARGV[3] then return 0 end
local value = redis.call('HGET', KEYS[1], tag)
if not value then return 0 end
local envelope = string.match(value, '^%[(.*), "[^"\\]*", "[^"\\]*"%]$')
if not envelope then return 0 end
redis.call('HDEL', KEYS[1], tag)
redis.call('ZREM', KEYS[2], tag)
redis.call('HDEL', KEYS[4], tag)
local count = tonumber(redis.call('HGET', KEYS[3], tag) or '0')
if count <= 1 then
    redis.call('HDEL', KEYS[3], tag)
else
    redis.call('HSET', KEYS[3], tag, count - 1)
end
redis.call('ZADD', KEYS[5], ARGV[2], envelope)
return 1
