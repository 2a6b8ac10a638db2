-- POST /api/generateOrder with an urlencoded form body and a new
-- order_token on every request.
--   BENCH_TOKEN=cp_test_... wrk ... -s bench/wrk_generate_order.lua URL -- CUSTOMER_ID RUN_TAG
-- The access token comes from the environment, so it is not in the
-- command line. Order tokens are RUN_TAG-<thread>-<n>, unique across the
-- runs of one store when every run has its own tag; new orders get 201.

local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "wrk_common.lua")

local customer, tag, token, n = "1", "r", "", 0
local headers = { ["Content-Type"] = "application/x-www-form-urlencoded" }

function init(args)
   customer = args[1] or "1"
   tag = args[2] or "r"
   token = os.getenv("BENCH_TOKEN") or ""
   expected_status = 201
end

function request()
   n = n + 1
   local order = string.format("%s-%d-%d", tag, thread_id or 0, n)
   local body = "customer_id=" .. customer .. "&access_token=" .. token ..
      "&order_id=" .. order .. "&order_token=" .. order ..
      "&amount=25.50&currency=USD"
   return wrk.format("POST", "/api/generateOrder", headers, body)
end
