-- LEASE: lease up to ARGV[1] messages for one consumer, atomically.
--
-- KEYS: 1 unacked, 2 unacked_index, 3 delivery counters, 4 owners, 5 dead letters
-- (stream), 6 consumer registry, 7 raw unacked, 8 raw index, 9 sequence; then for each
-- queue: its ETA sorted set, its inflight list, and one list per priority step.
-- ARGV: 1 limit, 2 max deliveries (0 = no limit), 3 consumer id, 4 heartbeat seconds (0:
-- leave the heartbeats alone), 5 visibility timeout (-1: skip the look for expired leases
-- and dead consumers), 6 dead-letter stream length, 7 separator, 8 number of queues,
-- 9 number of steps, then the steps, then the queue names, then each queue's registry
-- member ('' when it has no inflight list).
--
-- Times come from the server clock (TIME), so the script can be queued behind a BLMOVE
-- on the same connection and still stamp the moment it runs. Due ETA messages move to
-- their queue first (RPUSH, earliest delivered first). Then the inflight lists (what
-- BLMOVE took while this consumer waited) and the queue lists are read from the consumer
-- end in kombu's order (priority step 0 of every queue, then step 3, ...). Each chunk is
-- read with LRANGE, recorded (unacked + unacked_index as kombu writes them, owner,
-- delivery count), and only then trimmed: if the script stops halfway, a message is at
-- worst both recorded and still queued, never neither.
-- Returns {flat [tag, queue number, delivery count, bytes]..., dead-lettered count,
-- next ETA (-1 when none), stale lease flag, dead consumer flag}.
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
