-- GET PREFIX<i> for i spread over 0 .. COUNT-1, a new i on every request.
--   wrk ... -s bench/wrk_get.lua URL -- PREFIX COUNT EXPECTED_STATUS
-- Each thread walks i = (n * 1000003 + thread offset) mod COUNT, so the
-- requests touch the whole range instead of a few cached rows.

local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "wrk_common.lua")

local prefix, count, n = "/", 1, 0

function init(args)
   prefix = args[1] or "/"
   count = tonumber(args[2] or "1")
   expected_status = tonumber(args[3] or "200")
   n = (thread_id or 0) * 7919
end

function request()
   n = n + 1
   local i = (n * 1000003) % count
   return wrk.format("GET", prefix .. string.format("%d", i))
end
