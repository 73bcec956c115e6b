"""The Lua scripts of the Redis broker: atomic lease, give-back, requeue and dead-letter."""

from __future__ import annotations

__all__ = [
    "ACK",
    "SWEEP",
    "DEAD_LETTER",
    "LEASE",
    "RAW_TAG_PREFIX",
    "RELEASE_LOCK",
    "REQUEUE",
    "RETURN_INFLIGHT",
]

#: Delivery tags celeriac makes up for list items that are not kombu envelopes.
RAW_TAG_PREFIX = "celeriac-raw-"

# Helpers shared by the scripts that read envelopes. They find kombu's fields by text, not
# by decoding the JSON (cjson costs ~20 µs per envelope, a text search ~1 µs): the
# top-level "properties" object is the last key kombu writes, so the last
# '"properties": {' starts it, whatever the headers hold. Anything unusual falls back to
# cjson.
_ENVELOPE_HELPERS = r"""
local function props_start(raw)
    local pos, found = 1, nil
    while true do
        local _, e = string.find(raw, '"properties": {', pos, true)
        if not e then return found end
        found = e
        pos = e + 1
    end
end

-- The text of a JSON string value that follows `anchor`, when it holds no escapes.
local function quoted(raw, anchor, from)
    local _, e = string.find(raw, anchor, from, true)
    if not e then return nil end
    local q = string.find(raw, '"', e + 1, true)
    if not q then return nil end
    local value = string.sub(raw, e + 1, q - 1)
    if string.find(value, '\\', 1, true) then return nil end
    return value, q
end

-- tag, exchange (JSON), routing key (JSON) of an envelope; is_envelope false for garbage.
local function read_envelope(raw)
    if string.byte(raw, 1) ~= 123 or string.byte(raw, -1) ~= 125 then
        return false
    end
    local from = props_start(raw)
    if from then
        local tag = quoted(raw, '"delivery_tag": "', from)
        if tag then
            local exchange, q = quoted(raw, '"delivery_info": {"exchange": "', from)
            if exchange then
                local s = string.find(raw, '", "routing_key": "', q, true)
                if s == q then
                    local rk = quoted(raw, '", "routing_key": "', q)
                    if rk then
                        return true, tag, '"' .. exchange .. '"', '"' .. rk .. '"'
                    end
                end
            end
            return true, tag, nil, nil
        end
    end
    local ok, decoded = pcall(cjson.decode, raw)
    if not ok or type(decoded) ~= 'table' then
        return false
    end
    local tag, exchange, rk
    local props = decoded['properties']
    if type(props) == 'table' then
        if type(props['delivery_tag']) == 'string' then tag = props['delivery_tag'] end
        local info = props['delivery_info']
        if type(info) == 'table' and type(info['exchange']) == 'string'
                and type(info['routing_key']) == 'string' then
            exchange = cjson.encode(info['exchange'])
            rk = cjson.encode(info['routing_key'])
        end
    end
    return true, tag, exchange, rk
end

local function task_of(raw)
    local ok, decoded = pcall(cjson.decode, raw)
    if ok and type(decoded) == 'table' and type(decoded['headers']) == 'table' then
        local id, name = decoded['headers']['id'], decoded['headers']['task']
        return type(id) == 'string' and id or '', type(name) == 'string' and name or ''
    end
    return '', ''
end

-- A garbage item is kept as "<len>:<source list key><bytes>" so it can go back.
local function raw_record(src, raw)
    return string.len(src) .. ':' .. src .. raw
end

local function raw_parts(value)
    local colon = string.find(value, ':', 1, true)
    local len = tonumber(string.sub(value, 1, colon - 1))
    return string.sub(value, colon + 1, colon + len), string.sub(value, colon + len + 1)
end
"""

#: Lease up to ARGV[1] messages for one consumer, atomically.
#:
#: KEYS: 1 unacked, 2 unacked_index, 3 delivery counters, 4 owners, 5 dead letters
#: (stream), 6 consumer registry, 7 raw unacked, 8 raw index, 9 sequence; then for each
#: queue: its ETA sorted set, its inflight list, and one list per priority step.
#: ARGV: 1 limit, 2 max deliveries (0 = no limit), 3 consumer id, 4 heartbeat seconds (0:
#: leave the heartbeats alone), 5 visibility timeout (-1: skip the look for expired leases
#: and dead consumers), 6 dead-letter stream length, 7 separator, 8 number of queues,
#: 9 number of steps, then the steps, then the queue names, then each queue's registry
#: member ('' when it has no inflight list).
#:
#: Times come from the server clock (TIME), so the script can be queued behind a BLMOVE
#: on the same connection and still stamp the moment it runs. Due ETA messages move to
#: their queue first (RPUSH, earliest delivered first). Then the inflight lists (what
#: BLMOVE took while this consumer waited) and the queue lists are read from the consumer
#: end in kombu's order (priority step 0 of every queue, then step 3, ...). Each chunk is
#: read with LRANGE, recorded (unacked + unacked_index as kombu writes them, owner,
#: delivery count), and only then trimmed: if the script stops halfway, a message is at
#: worst both recorded and still queued, never neither.
#: Returns {flat [tag, queue number, delivery count, bytes]..., dead-lettered count,
#: next ETA (-1 when none), stale lease flag, dead consumer flag}.
LEASE = (
    _ENVELOPE_HELPERS
    + r"""
local limit = tonumber(ARGV[1])
local clock = redis.call('TIME')
local now_n = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local now = string.format('%.6f', now_n)
local maxd = tonumber(ARGV[2])
local consumer = ARGV[3]
local heartbeat = nil
if tonumber(ARGV[4]) > 0 then heartbeat = string.format('%.6f', now_n + tonumber(ARGV[4])) end
local ceil = nil
if tonumber(ARGV[5]) >= 0 then ceil = string.format('%.6f', now_n - tonumber(ARGV[5])) end
local maxlen = ARGV[6]
local nq = tonumber(ARGV[8])
local nsteps = tonumber(ARGV[9])
local steps = {}
for i = 1, nsteps do steps[i] = tonumber(ARGV[9 + i]) end
local width = 2 + nsteps

local function key_of(q, slot) return KEYS[9 + (q - 1) * width + slot] end
local function queue_name(q) return ARGV[9 + nsteps + q] end
local function member_of(q) return ARGV[9 + nsteps + nq + q] end

local function step_slot(raw)
    local p = 0
    local from = props_start(raw)
    if from then
        local _, e = string.find(raw, '"priority": ', from, true)
        if e then
            local digits = string.match(raw, '^%-?%d+', e + 1)
            if digits then p = tonumber(digits) end
        end
    end
    if p > 9 then p = 9 elseif p < 0 then p = 0 end
    local slot = 1
    for i = 1, nsteps do if steps[i] <= p then slot = i end end
    return 2 + slot
end

-- 1. due ETA messages go to the front of their list
local next_eta = -1
for q = 1, nq do
    local eta_key = key_of(q, 1)
    local first = redis.call('ZRANGE', eta_key, 0, 0, 'WITHSCORES')
    if first[2] and tonumber(first[2]) <= now_n then
        local due = redis.call('ZRANGEBYSCORE', eta_key, '-inf', now, 'LIMIT', 0, 500)
        redis.call('ZREM', eta_key, unpack(due))
        for i = #due, 1, -1 do
            redis.call('RPUSH', key_of(q, step_slot(due[i])), due[i])
        end
        first = redis.call('ZRANGE', eta_key, 0, 0, 'WITHSCORES')
    end
    if first[2] then
        local score = tonumber(first[2])
        if next_eta < 0 or score < next_eta then next_eta = score end
    end
    local member = member_of(q)
    if member ~= '' and heartbeat then redis.call('ZADD', KEYS[6], heartbeat, member) end
end

-- 2. lease
local out = {}
local taken = 0
local dead = 0
local seq = 0

local function lease_chunk(key, q, src)
    local want = limit - taken
    local items = redis.call('LRANGE', key, -want, -1)
    local n = #items
    if n == 0 then return false end
    local unacked, index, owners, raws, raw_index = {}, {}, {}, {}, {}
    for i = n, 1, -1 do
        local raw = items[i]
        local is_env, tag, exchange, rk = read_envelope(raw)
        if not tag then
            tag = (is_env and 'celeriac-' or 'celeriac-raw-') .. redis.call('INCR', KEYS[9])
        end
        local count = redis.call('HINCRBY', KEYS[3], tag, 1)
        local parked = false
        if maxd > 0 and count > maxd then
            local task_id, task_name = task_of(raw)
            local reason = 'delivered ' .. (count - 1) ..
                ' times without an ack (task_max_deliveries=' .. maxd .. ')'
            local res = redis.pcall('XADD', KEYS[5], 'MAXLEN', '~', maxlen, '*',
                'queue', queue_name(q), 'reason', reason, 'payload', raw, 'created_at', now,
                'task_id', task_id, 'task_name', task_name, 'delivery_count', count - 1)
            if type(res) ~= 'table' or not res['err'] then
                redis.call('HDEL', KEYS[3], tag)
                dead = dead + 1
                parked = true
            end
        end
        if not parked then
            seq = seq + 1
            local score = string.format('%.6f', now_n + seq * 0.000001)
            if is_env then
                unacked[#unacked + 1] = tag
                unacked[#unacked + 1] = '[' .. raw .. ', ' .. (exchange or '""') .. ', ' ..
                    (rk or cjson.encode(queue_name(q))) .. ']'
                index[#index + 1] = score
                index[#index + 1] = tag
            else
                raws[#raws + 1] = tag
                raws[#raws + 1] = raw_record(src, raw)
                raw_index[#raw_index + 1] = score
                raw_index[#raw_index + 1] = tag
            end
            owners[#owners + 1] = tag
            owners[#owners + 1] = consumer
            taken = taken + 1
            out[#out + 1] = tag
            out[#out + 1] = q
            out[#out + 1] = count
            out[#out + 1] = raw
        end
    end
    if #unacked > 0 then
        redis.call('HSET', KEYS[1], unpack(unacked))
        redis.call('ZADD', KEYS[2], unpack(index))
    end
    if #raws > 0 then
        redis.call('HSET', KEYS[7], unpack(raws))
        redis.call('ZADD', KEYS[8], unpack(raw_index))
    end
    if #owners > 0 then redis.call('HSET', KEYS[4], unpack(owners)) end
    redis.call('LTRIM', key, 0, -(n + 1))
    return n == want
end

local function drain(key, q, src)
    while taken < limit do
        if not lease_chunk(key, q, src) then return end
    end
end

if limit > 0 then
    -- one EXISTS per queue skips the empty ones (each call costs a few microseconds)
    local busy = {}
    for q = 1, nq do
        local first = member_of(q) ~= '' and 2 or 3
        local keys = {}
        for slot = first, 2 + nsteps do keys[#keys + 1] = key_of(q, slot) end
        busy[q] = redis.call('EXISTS', unpack(keys)) > 0
        if busy[q] and first == 2 then drain(key_of(q, 2), q, key_of(q, 3)) end
    end
    for s = 1, nsteps do
        for q = 1, nq do
            if taken >= limit then break end
            if busy[q] then drain(key_of(q, 2 + s), q, key_of(q, 2 + s)) end
        end
    end
end

-- 3. what maintenance is due (only when asked: ARGV[5] >= 0)
local stale, lost = 0, 0
if ceil then
    if #redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ceil, 'LIMIT', 0, 1) > 0
            or #redis.call('ZRANGEBYSCORE', KEYS[8], '-inf', ceil, 'LIMIT', 0, 1) > 0 then
        stale = 1
    end
    if #redis.call('ZRANGEBYSCORE', KEYS[6], '-inf', now, 'LIMIT', 0, 1) > 0 then lost = 1 end
end
return {out, dead, tostring(next_eta), stale, lost}
"""
)

#: Put inflight lists back on their source lists.
#:
#: KEYS: 1 consumer registry. ARGV: 1 key prefix, 2 separator, 3 mode, then (mode "dead")
#: a limit, or (other modes) the registry members to return. Mode "dead" takes the
#: members whose heartbeat passed (server clock) and removes them; "keep" leaves the
#: registry alone; "expire" marks the members dead (score 0) so a late arrival is swept;
#: "drop" removes them. Returns how many messages went back.
RETURN_INFLIGHT = r"""
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
"""

#: Give leased messages back to their lists (requeue, recover, expired leases).
#:
#: KEYS: 1 unacked, 2 unacked_index, 3 delivery counters, 4 owners, 5 raw unacked, 6 raw
#: index. ARGV: 1 owner that must hold each lease ('' = anyone), 2 visibility ceiling
#: ('' = give back even if renewed), then per message: tag, the unacked value it must
#: still have ('' = any), the payload to push, uncount flag ('1' takes this delivery
#: off the count), number of destination lists, the lists. Garbage tags go back to the
#: list they came from as they were. Each message is RPUSHed (delivered next, as kombu
#: restores). Returns how many were given back.
REQUEUE = (
    _ENVELOPE_HELPERS
    + r"""
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
"""
)

#: Move one message to the dead-letter stream with a reason and drop its lease.
#:
#: KEYS: 1 unacked, 2 unacked_index, 3 delivery counters, 4 owners, 5 dead letters, 6 raw
#: unacked, 7 raw index. ARGV: 1 tag, 2 reason, 3 now, 4 payload to park when the lease
#: is gone, 5 task id, 6 task name, 7 queue, 8 stream length, 9 delivery count when
#: unknown. The parked bytes are the envelope as stored (read back out of the unacked
#: record) when it is still there.
DEAD_LETTER = (
    _ENVELOPE_HELPERS
    + r"""
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
"""
)

#: Park a leased message in its queue's ETA set until due, uncounted (a Celery producer's
#: countdown task reached a celeriac worker early). KEYS: 1 unacked, 2 unacked_index,
#: 3 delivery counters, 4 owners, 5 the queue's ETA set. ARGV: 1 tag, 2 due time,
#: 3 our consumer id.
DEFER = r"""
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
"""

#: Forget settled messages: kombu's ack (HDEL unacked + ZREM unacked_index) plus our
#: records, for a whole batch in one call. KEYS: 1 unacked, 2 unacked_index, 3 delivery
#: counters, 4 owners, 5 raw unacked, 6 raw index. ARGV: the tags (at most ~7000).
ACK = r"""
redis.call('HDEL', KEYS[1], unpack(ARGV))
redis.call('ZREM', KEYS[2], unpack(ARGV))
redis.call('HDEL', KEYS[3], unpack(ARGV))
redis.call('HDEL', KEYS[4], unpack(ARGV))
redis.call('HDEL', KEYS[5], unpack(ARGV))
redis.call('ZREM', KEYS[6], unpack(ARGV))
return #ARGV
"""

#: Drop bookkeeping of messages celeriac no longer holds (kombu restored a lease and a
#: Celery worker acked it, so no celeriac ack ran). KEYS: 1 unacked, 2 raw unacked,
#: 3 owners, 4 delivery counters, 5 candidates (counter tag -> when first seen unleased).
#: ARGV: 1 "owners" | "counters", 2 now, 3 counter TTL, then tags. An owner entry only
#: means something while the message is leased: it goes at once. A delivery count must
#: outlive a restore (the message waits in a list, then is leased again), so a count
#: goes only once its message has been unleased for the TTL. Returns how many went.
SWEEP = r"""
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
"""

#: Release the restore mutex only if we still hold it (redis-py's Lock does the same, so
#: kombu and celeriac share ``unacked_mutex``). KEYS: 1 mutex. ARGV: 1 our token.
RELEASE_LOCK = r"""
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""
