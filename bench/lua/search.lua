-- Search Orders: cycles through a mix of realistic filter bodies (status,
-- country, date range, reference, combined; limit 50), one JSON body per line.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local bodies
local next_index

function init(args)
   bodies = read_lines(payload_path)
   next_index = (thread_id * 13) % #bodies
end

function request()
   next_index = next_index % #bodies + 1
   return wrk.format("POST", base .. "/search", json_headers, bodies[next_index])
end
