-- Shared by the scenario scripts (loaded with dofile): headers, per-thread ids,
-- payload files, and a one-line JSON summary for bench/wrk.py to parse.
-- Settings come from the environment that bench/wrk.py sets.

base = os.getenv("BENCH_BASE")           -- "/api/<connector prefix>"
payload_path = os.getenv("BENCH_PAYLOAD") -- the scenario's payload file

json_headers = {
   ["X-API-KEY"] = os.getenv("BENCH_API_KEY"),
   ["Content-Type"] = "application/json",
}
get_headers = { ["X-API-KEY"] = os.getenv("BENCH_API_KEY") }

local threads_started = 0

function setup(thread)
   threads_started = threads_started + 1
   thread:set("thread_id", threads_started)
end

function read_file(path)
   local handle = assert(io.open(path, "rb"))
   local text = handle:read("*a")
   handle:close()
   return text
end

function read_lines(path)
   local lines = {}
   for line in io.lines(path) do
      if line ~= "" then
         lines[#lines + 1] = line
      end
   end
   assert(#lines > 0, "empty payload file " .. path)
   return lines
end

function done(summary, latency, requests)
   local errors = summary.errors
   io.write(string.format(
      'BENCH_RESULT {"requests":%d,"duration_us":%d,"bytes":%d,'
         .. '"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,'
         .. '"p50_us":%d,"p75_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
      summary.requests, summary.duration, summary.bytes,
      errors.connect, errors.read, errors.write, errors.status, errors.timeout,
      latency:percentile(50), latency:percentile(75), latency:percentile(90),
      latency:percentile(99), latency.max, latency.mean))
end
