-- wrk script for the throughput runs of the benchmark harness (benches/harness,
-- run by scripts/bench.sh).
--
-- Env COOKIE_FILE unset or empty: new visitors, every request "GET /" with no cookie.
-- Env COOKIE_FILE set: returning clients. The file holds one `name=value`
-- cookie per line, one per session minted before the run. Thread t of T (T
-- from env WRK_THREADS) takes lines t, t+T, t+2T, ... and sends them round
-- robin, one per request, so every session is replayed and no two threads
-- share one. wrk has no per-connection hook, so cookies are spread per
-- request; with many more sessions than connections two requests of one
-- session rarely overlap (when they do, the server must serialise them,
-- which is part of what is measured).
--
-- Every request string is built in init(), and both scenarios go through the
-- same request() path, so the client's cost per request is the same for all
-- variants. No response() is defined: wrk then skips header callbacks.
-- done() prints one machine-readable RESULT line.

local counter = 0
local threads = {}

function setup(thread)
   thread:set("tid", counter)
   counter = counter + 1
   table.insert(threads, thread)
end

local reqs = {}
local n = 0
local i = 0

function init(args)
   local file = os.getenv("COOKIE_FILE")
   local nthreads = tonumber(os.getenv("WRK_THREADS") or "1")
   if file ~= nil and file ~= "" then
      local line_no = 0
      for line in io.lines(file) do
         if line ~= "" then
            if line_no % nthreads == tid then
               table.insert(reqs, wrk.format("GET", "/", { Cookie = line }))
            end
            line_no = line_no + 1
         end
      end
      if #reqs == 0 then
         error("no cookie for thread " .. tid .. " in " .. file)
      end
   else
      table.insert(reqs, wrk.format("GET", "/"))
   end
   n = #reqs
end

function request()
   i = i + 1
   if i > n then
      i = 1
   end
   return reqs[i]
end

function done(summary, latency, requests)
   local e = summary.errors
   local secs = summary.duration / 1e6
   io.write(string.format(
      "RESULT requests=%d duration_s=%.3f rps=%.1f p50_us=%d p99_us=%d "
         .. "err_connect=%d err_read=%d err_write=%d err_status=%d err_timeout=%d\n",
      summary.requests, secs, summary.requests / secs,
      latency:percentile(50), latency:percentile(99),
      e.connect, e.read, e.write, e.status, e.timeout))
end
