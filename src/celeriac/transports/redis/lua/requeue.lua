-- REQUEUE: give leased messages back to their lists (requeue, recover, expired leases).
--
-- KEYS: 1 unacked, 2 unacked_index, 3 delivery counters, 4 owners, 5 raw unacked, 6 raw
-- index. ARGV: 1 owner that must hold each lease ('' = anyone), 2 visibility ceiling
-- ('' = give back even if renewed), then per message: tag, the unacked value it must
-- still have ('' = any), the payload to push, uncount flag ('1' takes this delivery
-- off the count), number of destination lists, the lists. Garbage tags go back to the
-- list they came from as they were. Each message is RPUSHed (delivered next, as kombu
-- restores). Returns how many were given back.
local owner, ceil = ARGV[1], ARGV[2]
local done = 0
local i = 3
while i <= #ARGV do
    local tag, expected, payload, uncount = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
    local ndest = tonumber(ARGV[i + 4])
    local dests = {}
    for d = 1, ndest do dests[d] = ARGV[i + 4 + d] end
    i = i + 5 + ndest
    local ok = owner == '' or redis.call('HGET', KEYS[4], tag) == owner
    local is_raw = string.sub(tag, 1, 13) == 'celeriac-raw-'
    local index = is_raw and KEYS[6] or KEYS[2]
    if ok and ceil ~= '' then
        local score = redis.call('ZSCORE', index, tag)
        if score and tonumber(score) > tonumber(ceil) then ok = false end
    end
    if ok then
        if is_raw then
            local value = redis.call('HGET', KEYS[5], tag)
            if value then
                local src, raw = raw_parts(value)
                redis.call('RPUSH', src, raw)
                redis.call('HDEL', KEYS[5], tag)
            else
                ok = false
            end
        else
            local value = redis.call('HGET', KEYS[1], tag)
            if (not value) or (expected ~= '' and value ~= expected) then
                ok = false
            else
                redis.call('HDEL', KEYS[1], tag)
                for d = 1, ndest do redis.call('RPUSH', dests[d], payload) end
            end
        end
        if ok then redis.call('ZREM', index, tag) end
    end
    if ok then
        redis.call('HDEL', KEYS[4], tag)
        if uncount == '1' then
            if redis.call('HINCRBY', KEYS[3], tag, -1) <= 0 then
                redis.call('HDEL', KEYS[3], tag)
            end
        end
        done = done + 1
    end
end
return done
