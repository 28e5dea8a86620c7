-- tokens.lua: wrk script for bench/run. Spreads requests over the tokens of
-- a file (one per line) as "Authorization: Bearer <token>", counts responses
-- whose status differs from the expected one (for "2xx": statuses over 399,
-- from wrk's own count), and prints one line of
-- key=value figures when done.
--   wrk ... -s bench/tokens.lua URL -- TOKEN_FILE|- EXPECTED_STATUS
-- EXPECTED_STATUS 2xx accepts any 2xx; "-" sends no Authorization header.

local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  local path = args[1] or "-"
  expected = args[2] or "2xx"
  unexpected = 0
  requests = {}
  if path ~= "-" then
    local f = assert(io.open(path, "r"), "tokens.lua: cannot open " .. path)
    for line in f:lines() do
      if #line > 0 then
        requests[#requests + 1] = wrk.format(nil, nil,
          { Authorization = "Bearer " .. line })
      end
    end
    f:close()
    assert(#requests > 0, "tokens.lua: no tokens in " .. path)
  else
    requests[1] = wrk.format(nil, nil)
  end
  -- Threads start at different places in the list.
  nexti = (id * 7919) % #requests + 1
  -- A response() callback makes wrk parse every header into Lua: for "2xx"
  -- its own count of statuses over 399 suffices, so the load tool spends
  -- its CPU on requests, as the C load tool of figures 1-3 does.
  if expected == "2xx" then
    response = nil
  end
end

function request()
  local r = requests[nexti]
  nexti = nexti + 1
  if nexti > #requests then
    nexti = 1
  end
  return r
end

function response(status, headers, body)
  if expected == "2xx" then
    if status < 200 or status > 299 then
      unexpected = unexpected + 1
    end
  elseif status ~= tonumber(expected) then
    unexpected = unexpected + 1
  end
end

function done(summary, latency, requests_)
  local bad = 0
  local e = summary.errors
  if expected == "2xx" then
    bad = e.status
  else
    for _, t in ipairs(threads) do
      bad = bad + (t:get("unexpected") or 0)
    end
  end
  local seconds = summary.duration / 1e6
  io.write(string.format(
    "rps=%.1f requests=%d unexpected=%d socket_errors=%d p50_us=%d " ..
    "p99_us=%d seconds=%.2f\n",
    summary.requests / seconds, summary.requests, bad,
    e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99), seconds))
end
