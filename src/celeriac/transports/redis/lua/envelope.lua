-- Helpers shared by the scripts that read envelopes (prepended to lease.lua, requeue.lua
-- and dead_letter.lua when they are loaded). They find kombu's fields by text, not by
-- decoding the JSON (cjson costs ~20 us per envelope, a text search ~1 us): the top-level
-- "properties" object is the last key kombu writes, so the last '"properties": {' starts
-- it, whatever the headers hold. Anything unusual falls back to cjson.
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
