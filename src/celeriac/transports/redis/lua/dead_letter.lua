-- DEAD_LETTER: move one message to the dead-letter stream with a reason, drop its lease.
--
-- KEYS: 1 unacked, 2 unacked_index, 3 delivery counters, 4 owners, 5 dead letters, 6 raw
-- unacked, 7 raw index. ARGV: 1 tag, 2 reason, 3 now, 4 payload to park when the lease
-- is gone, 5 task id, 6 task name, 7 queue, 8 stream length, 9 delivery count when
-- unknown. The parked bytes are the envelope as stored (read back out of the unacked
-- record) when it is still there.
local tag = ARGV[1]
local payload = ARGV[4]
local value = redis.call('HGET', KEYS[1], tag)
if value then
    local envelope = string.match(value, '^%[(.*), "[^"\\]*", "[^"\\]*"%]$')
    if envelope then payload = envelope end
else
    local raw_value = redis.call('HGET', KEYS[6], tag)
    if raw_value then
        local _, raw = raw_parts(raw_value)
        payload = raw
    end
end
local count = redis.call('HGET', KEYS[3], tag) or ARGV[9]
redis.call('HDEL', KEYS[1], tag)
redis.call('ZREM', KEYS[2], tag)
redis.call('HDEL', KEYS[6], tag)
redis.call('ZREM', KEYS[7], tag)
redis.call('HDEL', KEYS[3], tag)
redis.call('HDEL', KEYS[4], tag)
redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[8], '*', 'queue', ARGV[7], 'reason', ARGV[2],
    'payload', payload, 'created_at', ARGV[3], 'task_id', ARGV[5], 'task_name', ARGV[6],
    'delivery_count', count)
return 1
