-- wrk script: many signed-in sessions viewing one page, with a share of writes, and every answer checked.
--
--   wrk -t64 -c64 -d10s --latency -s bench/mixed_load.lua URL -- SESSIONS PATH WRITE_PERCENT
--
-- SESSIONS is the file bench/workload.py writes (token, display name, customer name, scope; tab-separated).
-- Run it with as many threads as connections: each thread then has one connection, so answers come back in the
-- order of the requests and each one is checked against the session that asked for it:
--   * a view must answer 200 with the session's own name and customer name on the page (the right, signed-in page);
--   * a write (a new ticket through the JSON API, WRITE_PERCENT of the requests) must answer 201, and the same
--     session's next request is a view of PATH that must already show the new ticket's subject (read-your-writes;
--     only for "/" and "/tickets", the pages that list open tickets newest first). A view that lacks it but shows at
--     least SHOWN tickets numbered after it is counted apart ("displaced"): other sessions' new tickets pushed it off
--     the page's newest-first list before the view was built, which is right, not stale.
-- Each thread alternates between two sessions, half the file apart, so both customers and both scopes are in play.
-- done() prints one line for bench/portal_home.py to read: "checked views=… writes=… wrong=… stale=… failed=…
-- displaced=…", and one with the time to answer of each kind of request apart (wrk's own figures mix them): "times
-- view=N:P50:P99 follow=… write=…" in ms, where a follow is the view right after the same session's write.

-- A monotonic clock in ms (wrk runs LuaJIT; its os.clock is CPU time).
local ffi = require("ffi")
ffi.cdef([[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk_id, bench_timespec *tp);
]])
local CLOCK_MONOTONIC = 1
local ts = ffi.new("bench_timespec")
local function now_ms()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, ts)
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end

local threads = {}
local count = 0

function setup(thread)
  count = count + 1
  thread:set("id", count)
  table.insert(threads, thread)
end

function init(args)
  sessions = {}
  for line in io.lines(args[1]) do
    local token, name, customer, scope = line:match("^([^\t]+)\t([^\t]+)\t([^\t]+)\t([^\t]+)$")
    if token then
      table.insert(sessions, { token = token, name = name, customer = customer, scope = scope })
    end
  end
  path = args[2] or "/"
  write_percent = tonumber(args[3] or "5")
  check_subject = (path == "/" or path == "/tickets")
  half = math.floor(#sessions / 2)
  n = 0
  views, writes, wrong, stale, failed, displaced = 0, 0, 0, 0, 0, 0
  example = ""
  follow = nil
  current = nil
  -- Per kind of request, each one's time to answer (ms); one connection per thread, so one request at a time. Flat
  -- tables: wrk's thread:get crashes copying nested ones.
  view_ms, follow_ms, write_ms = {}, {}, {}
  sent = 0
  math.randomseed(id * 7919)
end

-- The fewest rows of open tickets newest first the checked pages show (the home 20, /tickets 25).
local SHOWN = 20

local function view(s, subject, number)
  current = { s = s, subject = subject, number = number }
  return wrk.format("GET", path, { ["Cookie"] = "portal_session=" .. s.token })
end

function request()
  n = n + 1
  sent = now_ms()
  if follow then
    local f = follow
    follow = nil
    local r = view(f.s, f.subject, f.number)
    current.follow = true
    return r
  end
  local s = sessions[((id - 1) + (n % 2) * half) % #sessions + 1]
  if math.random(100) <= write_percent then
    local subject = string.format("Bench write %d-%d-%d", id, n, math.random(1000000))
    current = { s = s, write = true, subject = subject }
    local body = '{"subject":"' .. subject .. '","description":"Written by the mixed load.","priority":"Normal"}'
    return wrk.format("POST", "/api/v1/tickets", {
      ["Authorization"] = "Bearer " .. s.token,
      ["Content-Type"] = "application/json",
      ["Idempotency-Key"] = string.format("bench-w-%d-%d-%d", id, n, math.random(1000000000)),
    }, body)
  end
  return view(s, nil)
end

local function note(what)
  if example == "" then
    example = what
  end
end

function response(status, headers, body)
  local c = current
  if c == nil then
    return
  end
  local times = c.write and write_ms or (c.follow and follow_ms or view_ms)
  times[#times + 1] = now_ms() - sent
  if c.write then
    writes = writes + 1
    if status == 201 then
      if check_subject then
        follow = { s = c.s, subject = c.subject, number = tonumber(body:match('"number"%s*:%s*(%d+)')) }
      end
    else
      failed = failed + 1
      note("write answered " .. status .. ": " .. body:sub(1, 160))
    end
    return
  end
  views = views + 1
  if status ~= 200 then
    failed = failed + 1
    note("view answered " .. status)
  elseif not body:find(c.s.name, 1, true) or not body:find(c.s.customer, 1, true) then
    wrong = wrong + 1
    note("a page without " .. c.s.name .. " of " .. c.s.customer)
  elseif c.subject and not body:find(c.subject, 1, true) then
    local newer, seen = 0, {}
    for num in body:gmatch("#(%d+)") do
      local k = tonumber(num)
      if c.number and k > c.number and not seen[k] then
        seen[k] = true
        newer = newer + 1
      end
    end
    if newer >= SHOWN then
      displaced = displaced + 1
    else
      stale = stale + 1
      note("the next view after a write lacks " .. c.subject .. " (" .. newer .. " newer tickets shown)")
    end
  end
end

function done(summary, latency, requests)
  local v, w, bad, old, fail, moved, ex = 0, 0, 0, 0, 0, 0, ""
  for _, t in ipairs(threads) do
    v = v + t:get("views")
    w = w + t:get("writes")
    bad = bad + t:get("wrong")
    old = old + t:get("stale")
    fail = fail + t:get("failed")
    moved = moved + t:get("displaced")
    if ex == "" then
      ex = t:get("example")
    end
  end
  io.write(string.format(
    "checked views=%d writes=%d wrong=%d stale=%d failed=%d displaced=%d example=%s\n", v, w, bad, old, fail, moved, ex
  ))
  local cells = {}
  for _, kind in ipairs({ "view", "follow", "write" }) do
    local all = {}
    for _, t in ipairs(threads) do
      for _, ms in ipairs(t:get(kind .. "_ms")) do
        all[#all + 1] = ms
      end
    end
    table.sort(all)
    local function at(q)
      return #all > 0 and all[math.max(1, math.ceil(q * #all))] or 0
    end
    cells[#cells + 1] = string.format("%s=%d:%.1f:%.1f", kind, #all, at(0.5), at(0.99))
  end
  io.write("times " .. table.concat(cells, " ") .. "\n")
end
