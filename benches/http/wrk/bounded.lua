-- wrk script for the memory runs of the benchmark harness (benches/harness): new visitors (no
-- cookie), and each thread stops after args[1] responses, so the run makes a
-- bounded number of sessions (plus at most the connections in flight, which
-- the script reads back from the server's /stats). -d bounds it in time too.

local quota = 0
local seen = 0

function init(args)
   quota = tonumber(args[1] or "0")
   if quota <= 0 then
      error("usage: wrk ... -s bounded.lua URL -- <responses per thread>")
   end
end

function response(status, headers, body)
   seen = seen + 1
   if seen >= quota then
      wrk.thread:stop()
   end
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      "RESULT requests=%d duration_s=%.3f err_status=%d err_connect=%d\n",
      summary.requests, summary.duration / 1e6, e.status, e.connect))
end
