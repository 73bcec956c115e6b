-- ACK: forget settled messages: kombu's ack (HDEL unacked + ZREM unacked_index) plus our
-- records, for a whole batch in one call. KEYS: 1 unacked, 2 unacked_index, 3 delivery
-- counters, 4 owners, 5 raw unacked, 6 raw index. ARGV: the tags (at most ~7000).
redis.call('HDEL', KEYS[1], unpack(ARGV))
redis.call('ZREM', KEYS[2], unpack(ARGV))
redis.call('HDEL', KEYS[3], unpack(ARGV))
redis.call('HDEL', KEYS[4], unpack(ARGV))
redis.call('HDEL', KEYS[5], unpack(ARGV))
redis.call('ZREM', KEYS[6], unpack(ARGV))
return #ARGV
