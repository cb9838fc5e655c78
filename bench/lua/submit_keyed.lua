-- Submit Order as submit.lua, each request also carrying an Idempotency-Key (the
-- order's reference, so each key is new): what integrators that retry safely send.
-- Used by bench.run when --features is on, so the run pays for idempotency too.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local PLACEHOLDER = "__REFERENCE__"
local run_id = os.getenv("BENCH_RUN_ID")
local head, tail
local counter = 0
local keyed_headers = {}

function init(args)
   local template = read_file(payload_path)
   local at = assert(string.find(template, PLACEHOLDER, 1, true), "no " .. PLACEHOLDER)
   head = string.sub(template, 1, at - 1)
   tail = string.sub(template, at + #PLACEHOLDER)
   for name, value in pairs(json_headers) do
      keyed_headers[name] = value
   end
end

function request()
   counter = counter + 1
   local reference = run_id .. "-" .. thread_id .. "-" .. counter
   keyed_headers["Idempotency-Key"] = reference
   return wrk.format("POST", base .. "/order", keyed_headers, head .. reference .. tail)
end
