-- Get Order: cycles through a pool of existing order keys (Pressline ids, some
-- orderReferenceIds), one per line in the payload file; each thread starts
-- at a different place in the pool.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local keys
local next_index

function init(args)
   keys = read_lines(payload_path)
   next_index = (thread_id * 7919) % #keys
end

function request()
   next_index = next_index % #keys + 1
   return wrk.format("GET", base .. "/" .. keys[next_index], get_headers)
end
