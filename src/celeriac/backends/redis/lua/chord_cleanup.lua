-- CHORD_CLEANUP: Celery 5.7's cleanup: drop .j .t .s .d and mark .c done, if the caller
-- holds the claim. KEYS: .c .j .t .s .d; ARGV: claim token, how long .c stays 'done'.
local ckey, jkey, tkey, skey, dkey = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local token = ARGV[1]
local done_expires = tonumber(ARGV[2])
if redis.call('GET', ckey) == token then
    redis.call('DEL', jkey, tkey, skey, dkey)
    if done_expires and done_expires > 0 then
        redis.call('SET', ckey, 'done', 'EX', done_expires)
    end
    return 1
end
return 0
