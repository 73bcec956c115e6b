-- CHORD_PART_RETURN: Celery 5.7's script (celery/backends/redis.py), verbatim in behaviour
-- and keys, so a Celery worker and a celeriac worker can complete the same chord; one
-- addition: a retried call with the claim token it already set is still the claimer.
-- KEYS: <group key>.j (ZSET of parts scored by group_index, or a list when unordered),
-- .t (extra parts), .s (size), .d (dedupe set of <task id>:<index>), the group key,
-- .c (dispatch claim, then 'done'). ARGV: task id, part, ordered flag, score, expires,
-- group expires, claim expires, claim token. Returns {ready count, extra, size, claimed}.
local jkey, tkey, skey, dkey, gkey, ckey = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local tid, value, ordered, score = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local expires, group_expires = tonumber(ARGV[5]), tonumber(ARGV[6])
local claim_expires = tonumber(ARGV[7])
local claim_token = ARGV[8]
local done_marker = redis.call('GET', ckey)
if done_marker == 'done' then
    return {-1, 0, 0, 0}
end
local member = tid .. ':' .. score
if redis.call('SISMEMBER', dkey, member) == 0 then
    if ordered == '1' then
        redis.call('ZADD', jkey, score, value)
    else
        redis.call('RPUSH', jkey, value)
    end
    redis.call('SADD', dkey, member)
end
local readycount
if ordered == '1' then
    readycount = redis.call('ZCOUNT', jkey, '-inf', '+inf')
else
    readycount = redis.call('LLEN', jkey)
end
if expires > 0 then
    for _, key in ipairs({jkey, tkey, skey, dkey}) do
        redis.call('EXPIRE', key, expires)
    end
    if group_expires > 0 then
        redis.call('EXPIRE', gkey, group_expires)
    end
end
local totaldiff = redis.call('GET', tkey)
local size = redis.call('GET', skey)
local claimed = 0
if size and readycount == tonumber(size) + tonumber(totaldiff or 0) then
    if redis.call('SET', ckey, claim_token, 'NX', 'EX', claim_expires) then
        claimed = 1
    elseif done_marker == claim_token then
        -- celeriac: the same call again (its reply was lost, e.g. in a Redis restart, and
        -- the client retried): it still holds the claim. Tokens are unique per call, so
        -- no other caller (Celery's or ours) can match.
        claimed = 1
    end
end
return {readycount, totaldiff, size, claimed}
