-- STORE: store task metas unless a SUCCESS is stored, and PUBLISH them (Celery's write,
-- atomic). KEYS: the result keys. ARGV: 1 "ex" | "px" | "" (no expiry), 2 the expiry,
-- then one payload per key. A key given twice is written in order (a STARTED then its
-- SUCCESS).
local mode, ttl = ARGV[1], ARGV[2]
local written = 0
for i, key in ipairs(KEYS) do
    local payload = ARGV[2 + i]
    local current = redis.call('GET', key)
    local success = false
    if current then
        if string.sub(current, 1, 11) == '{"status": ' then
            success = string.sub(current, 12, 20) == '"SUCCESS"'
        else
            local ok, decoded = pcall(cjson.decode, current)
            success = ok and type(decoded) == 'table' and decoded['status'] == 'SUCCESS'
        end
    end
    if not success then
        if mode == 'ex' then
            redis.call('SETEX', key, ttl, payload)
        elseif mode == 'px' then
            redis.call('SET', key, payload, 'PX', ttl)
        else
            redis.call('SET', key, payload)
        end
        redis.call('PUBLISH', key, payload)
        written = written + 1
    end
end
return written
