-- REQUEUE_DEAD: move dead letters back onto their queues' lists, in one step.
--
-- KEYS: 1 the dead-letter stream, then one list key per id. ARGV: the stream ids, in the
-- order of KEYS[2..]. An id no longer in the stream (requeued or discarded meanwhile) is
-- skipped, so a message is never pushed twice. Returns how many were moved.
local moved = 0
for i = 1, #ARGV do
    local entry = redis.call('XRANGE', KEYS[1], ARGV[i], ARGV[i])
    if #entry > 0 then
        local fields = entry[1][2]
        for j = 1, #fields, 2 do
            if fields[j] == 'payload' then
                redis.call('LPUSH', KEYS[i + 1], fields[j + 1])
                break
            end
        end
        redis.call('XDEL', KEYS[1], ARGV[i])
        moved = moved + 1
    end
end
return moved
