-- get_cases.lua - wrk script for twokey's bench: GET /v1/cases/{id} over
-- many different cases (ids read from a file, one per line), so the
-- server's per-case view cache is mostly missed, unlike a single id.
-- Usage: wrk ... -s bench/wrk/get_cases.lua URL -- IDS_FILE TOKEN
local ids = {}
local token = ""
local n = 0

function init(args)
	local f = assert(io.open(args[1], "r"))
	for line in f:lines() do
		if line:match("^c_[0-9a-f]+$") then
			ids[#ids + 1] = line
		end
	end
	f:close()
	assert(#ids > 0, "no case ids in " .. args[1])
	token = args[2]
	-- each wrk thread starts at a different place in the list
	n = math.random(#ids)
end

function request()
	n = n % #ids + 1
	return wrk.format("GET", "/v1/cases/" .. ids[n],
		{["Authorization"] = "Bearer " .. token})
end
