-- Hooks shared by the wrk scripts of scripts/bench.sh. Each thread counts
-- the responses whose status differs from the expected one, and those that
-- carry "Connection: close". done() prints one line "BENCH_JSON {...}" with
-- the totals, the request rate and the latency percentiles in microseconds.

local threads = {}

expected_status = 200
unexpected = 0
first_unexpected = 0
closed = 0

function setup(thread)
   thread:set("thread_id", #threads)
   table.insert(threads, thread)
end

function response(status, headers, body)
   if status ~= expected_status then
      unexpected = unexpected + 1
      if first_unexpected == 0 then
         first_unexpected = status
      end
   end
   local connection = headers["Connection"] or headers["connection"]
   if connection ~= nil and string.lower(connection) == "close" then
      closed = closed + 1
   end
end

function done(summary, latency, requests)
   local unexpected_total, closed_total, first = 0, 0, 0
   for _, thread in ipairs(threads) do
      unexpected_total = unexpected_total + thread:get("unexpected")
      closed_total = closed_total + thread:get("closed")
      if first == 0 then
         first = thread:get("first_unexpected")
      end
   end
   local e = summary.errors
   io.write(string.format(
      "BENCH_JSON {\"requests\":%d,\"duration_us\":%d,\"requests_per_s\":%.1f," ..
      "\"latency_us\":{\"p50\":%d,\"p90\":%d,\"p99\":%d,\"max\":%d,\"mean\":%.1f}," ..
      "\"errors\":{\"connect\":%d,\"read\":%d,\"write\":%d,\"status\":%d,\"timeout\":%d}," ..
      "\"unexpected_status\":%d,\"first_unexpected_status\":%d,\"connection_close\":%d}\n",
      summary.requests, summary.duration, summary.requests / summary.duration * 1e6,
      latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency.max, latency.mean,
      e.connect, e.read, e.write, e.status, e.timeout,
      unexpected_total, first, closed_total))
end
