-- wrk's script for tools/bench_serve.sh: every client walks the same mix of
-- the playground's requests and checks every answer against the one the
-- server gave to that request alone (status 200 and the very same bytes).
--
--   wrk -t N -c N -s tools/bench_serve.lua URL -- MANIFEST
--
-- MANIFEST has one request a line, "METHOD PATH BODY_FILE ANSWER_FILE NAME"
-- (BODY_FILE "-" for none).  wrk does not tell response() which request it
-- answers, so each thread must hold one connection (-t equal to -c): with
-- one request in flight per thread, the answer is to the last request made.

local mix = {}
local next_request, asked = 1, nil
local threads = {}

-- main state: each thread's handle, to read its counts in done()
function setup(thread)
   thread:set("id", #threads)
   table.insert(threads, thread)
end

local function slurp(path)
   local f = assert(io.open(path, "rb"))
   local text = f:read("*a")
   f:close()
   return text
end

function init(args)
   for line in io.lines(args[1]) do
      local method, path, body_file, answer_file, name = line:match("^(%S+) (%S+) (%S+) (%S+) (.+)$")
      local body = body_file ~= "-" and slurp(body_file) or nil
      local headers = body and { ["Content-Type"] = "application/json" } or {}
      table.insert(mix, { request = wrk.format(method, path, headers, body), answer = slurp(answer_file),
                          name = name })
   end
   -- the clients start at different places of the mix, so that every kind
   -- of request is under way at any moment
   next_request = id % #mix + 1
   answered, wrong, first_wrong = 0, 0, ""
   wrong_by_kind = {}  -- name -> count
end

function request()
   asked = mix[next_request]
   next_request = next_request % #mix + 1
   return asked.request
end

function response(status, headers, body)
   answered = answered + 1
   if status ~= 200 or body ~= asked.answer then
      wrong = wrong + 1
      wrong_by_kind[asked.name] = (wrong_by_kind[asked.name] or 0) + 1
      if first_wrong == "" then
         first_wrong = string.format("%s: status %d, %d bytes against %d", asked.name, status, #(body or ""),
                                     #asked.answer)
      end
   end
end

-- one line of wrk_KEY=NUMBER for the shell script to read
function done(summary, latency, requests)
   local answered_all, wrong_all, first, by_kind = 0, 0, "", {}
   for _, thread in ipairs(threads) do
      answered_all = answered_all + thread:get("answered")
      wrong_all = wrong_all + thread:get("wrong")
      if first == "" then first = thread:get("first_wrong") end
      for name, count in pairs(thread:get("wrong_by_kind")) do by_kind[name] = (by_kind[name] or 0) + count end
   end
   local e = summary.errors
   io.write(string.format("wrk_requests=%d wrk_seconds=%.2f wrk_rate=%.1f wrk_p50_ms=%.2f wrk_p99_ms=%.2f " ..
                          "wrk_max_ms=%.2f wrk_answered=%d wrk_wrong=%d wrk_errors=%d wrk_connect=%d wrk_read=%d " ..
                          "wrk_write=%d wrk_status=%d wrk_timeout=%d\n",
                          summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
                          latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
                          answered_all, wrong_all, e.connect + e.read + e.write + e.status + e.timeout,
                          e.connect, e.read, e.write, e.status, e.timeout))
   if first ~= "" then io.write("wrk_first_wrong=" .. first .. "\n") end
   for name, count in pairs(by_kind) do io.write(string.format("wrk_wrong_kind=%d %s\n", count, name)) end
end
