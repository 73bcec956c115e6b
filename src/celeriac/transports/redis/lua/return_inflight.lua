-- RETURN_INFLIGHT: put inflight lists back on their source lists.
--
-- KEYS: 1 consumer registry. ARGV: 1 key prefix, 2 separator, 3 mode, then (mode "dead")
-- a limit, or (other modes) the registry members to return. Mode "dead" takes the
-- members whose heartbeat passed (server clock) and removes them; "keep" leaves the
-- registry alone; "expire" marks the members dead (score 0) so a late arrival is swept;
-- "drop" removes them. Returns how many messages went back.
local prefix, sep, mode = ARGV[1], ARGV[2], ARGV[3]
local members
if mode == 'dead' then
    local clock = redis.call('TIME')
    local now = string.format('%d.%06d', clock[1], clock[2])
    members = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[4]))
else
    members = {}
    for i = 4, #ARGV do members[#members + 1] = ARGV[i] end
end
local moved = 0
for _, member in ipairs(members) do
    local at = string.find(member, sep, 1, true)
    if at then
        local src = prefix .. string.sub(member, at + string.len(sep))
        local inflight = prefix .. 'celeriac.inflight' .. sep .. member
        local items = redis.call('LRANGE', inflight, 0, -1)
        for i = 1, #items do redis.call('RPUSH', src, items[i]) end
        moved = moved + #items
        redis.call('DEL', inflight)
    end
    if mode == 'dead' or mode == 'drop' then
        redis.call('ZREM', KEYS[1], member)
    elseif mode == 'expire' then
        redis.call('ZADD', KEYS[1], 0, member)
    end
end
return moved
