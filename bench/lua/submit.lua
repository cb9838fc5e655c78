-- Submit Order: the seed's basic order, a unique orderReferenceId per request
-- ("<run id>-<thread>-<counter>"). The payload file is the body with the
-- placeholder __REFERENCE__ where the reference goes.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local PLACEHOLDER = "__REFERENCE__"
local run_id = os.getenv("BENCH_RUN_ID")
local head, tail
local counter = 0

function init(args)
   local template = read_file(payload_path)
   local at = assert(string.find(template, PLACEHOLDER, 1, true), "no " .. PLACEHOLDER)
   head = string.sub(template, 1, at - 1)
   tail = string.sub(template, at + #PLACEHOLDER)
end

function request()
   counter = counter + 1
   local reference = run_id .. "-" .. thread_id .. "-" .. counter
   return wrk.format("POST", base .. "/order", json_headers, head .. reference .. tail)
end
