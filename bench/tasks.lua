-- wrk script for the todo-api benchmark. One script, many scenarios: BENCH_OP picks the
-- request mix; BENCH_DATA names a Lua file (written by bench/run.py) with the users, their
-- tokens and the id range of their seeded tasks. Requests spread over all users at random.

local data = dofile(os.getenv("BENCH_DATA"))
local op = os.getenv("BENCH_OP")
local offset = tonumber(os.getenv("BENCH_OFFSET") or "0")
local threads = 0
local all_threads = {}

function setup(thread)
  thread:set("index", threads)
  thread:set("unexpected", 0)
  threads = threads + 1
  table.insert(all_threads, thread)
end

local small, big = data.small, data.big
local body_create = '{"title": "Benchmark task", "description": "Created by wrk"}'
local body_update = '{"title": "Benchmark task, updated", "completed": true}'

local function pick(list) return list[math.random(#list)] end

local function headers(user)
  return { ["Authorization"] = "Bearer " .. user.token, ["Content-Type"] = "application/json" }
end

local function tasks_of(user) return "/api/" .. user.id .. "/tasks" end
local function one_of(user) return tasks_of(user) .. "/" .. math.random(user.lo, user.hi) end

local ops = {}
ops.list = function() local u = pick(small); return wrk.format("GET", tasks_of(u), headers(u)) end
ops.get = function() local u = pick(small); return wrk.format("GET", one_of(u), headers(u)) end
ops.create = function()
  local u = pick(small); return wrk.format("POST", tasks_of(u), headers(u), body_create)
end
-- A full list again with the ETag the user has (written into the data file by run.py): a 304.
local function unchanged(users)
  local u = pick(users)
  local h = headers(u)
  h["If-None-Match"] = u.etag
  return wrk.format("GET", tasks_of(u), h)
end
ops.list304 = function() return unchanged(small) end
ops.biglist304 = function() return unchanged(big) end
-- A create with a key of its own, as a client that retries safely sends every create.
local keys_sent = 0
ops.create_key = function()
  local u = pick(small)
  local h = headers(u)
  keys_sent = keys_sent + 1
  h["Idempotency-Key"] = string.format("bench-%d-%d-%d", index, keys_sent, math.random(1e9))
  return wrk.format("POST", tasks_of(u), h, body_create)
end
-- The MCP tool an agent calls most, mirroring "list": one stateless POST to /mcp.
local body_mcp_list =
  '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"list_tasks","arguments":{"limit":50}}}'
ops.mcp_list = function()
  local u = pick(small)
  local h = headers(u)
  h["Accept"] = "application/json, text/event-stream"
  h["MCP-Protocol-Version"] = "2025-11-25"
  return wrk.format("POST", "/mcp", h, body_mcp_list)
end
ops.update = function()
  local u = pick(small); return wrk.format("PUT", one_of(u), headers(u), body_update)
end
ops.toggle = function()
  local u = pick(small); return wrk.format("PATCH", one_of(u) .. "/complete", headers(u))
end
ops.biglist = function() local u = pick(big); return wrk.format("GET", tasks_of(u), headers(u)) end
-- Queries of a 10,000-task user: the first page of each.
local function big_query(query)
  local u = pick(big); return wrk.format("GET", tasks_of(u) .. "?" .. query, headers(u))
end
ops.duepage = function() return big_query("status=pending&sort=due_date&limit=50") end
ops.search = function() return big_query("q=report&limit=50") end
ops.tagpage = function() return big_query("tag=work&limit=50") end
-- Walking every page of 100 of one big user's list: each request follows the Link header of
-- the response before (run with one connection), starting over after the last page.
local next_path, walker = nil, nil
ops.walk = function()
  if next_path == nil then
    walker = big[1]
    next_path = tasks_of(walker) .. "?limit=100"
  end
  return wrk.format("GET", next_path, headers(walker))
end
function response(status, response_headers, body)
  -- A conditional list must be a 304: a 200 would mean the ETag (or the list) changed.
  if (op == "list304" or op == "biglist304") and status ~= 304 then
    unexpected = unexpected + 1
  end
  -- A tool error is a 200 too: only a successful call counts.
  if op == "mcp_list" and not string.find(body, '"isError":false', 1, true) then
    unexpected = unexpected + 1
  end
  if op == "walk" then
    local link = response_headers["Link"] or response_headers["link"]
    next_path = link and string.match(link, "<([^>]+)>") or nil
  end
end
ops.mixed = function()
  local r = math.random(100)
  if r <= 60 then return ops.list()
  elseif r <= 80 then return ops.get()
  elseif r <= 90 then return ops.create()
  elseif r <= 95 then return ops.update()
  else return ops.toggle() end
end

-- Deletes walk through seeded tasks so that each one is deleted exactly once: thread i takes
-- users i, i + n, i + 2n, ... (after BENCH_OFFSET users), and each of their tasks in turn.
local user_slot, task_id = nil, nil
ops.delete = function()
  if user_slot == nil then
    user_slot = offset + index + 1
    task_id = small[user_slot].lo
  end
  if task_id > small[user_slot].hi then
    user_slot = user_slot + tonumber(os.getenv("BENCH_THREADS"))
    if small[user_slot] == nil then
      error("delete: every seeded task is deleted; seed more small users or run shorter")
    end
    task_id = small[user_slot].lo
  end
  local u = small[user_slot]
  local path = tasks_of(u) .. "/" .. task_id
  task_id = task_id + 1
  return wrk.format("DELETE", path, headers(u))
end

function init(args)
  math.randomseed(os.time() * 1000 + index * 7919)
end

function request()
  return ops[op]()
end

function done(summary, latency, requests)
  local e = summary.errors
  local unexpected_total = 0
  for _, thread in ipairs(all_threads) do unexpected_total = unexpected_total + thread:get("unexpected") end
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "bytes": %d, "unexpected": %d, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
    '"latency_ms": {"mean": %.3f, "p50": %.3f, "p90": %.3f, "p95": %.3f, "p99": %.3f, ' ..
    '"p99_9": %.3f, "p99_95": %.3f, "max": %.3f}}\n',
    summary.requests, summary.duration, summary.bytes, unexpected_total,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean / 1000, latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(95) / 1000, latency:percentile(99) / 1000,
    latency:percentile(99.9) / 1000, latency:percentile(99.95) / 1000, latency.max / 1000))
end
