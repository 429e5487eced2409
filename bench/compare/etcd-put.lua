-- etcd-put.lua: wrk load for etcd's gRPC gateway: POST /v3/kv/put with
-- {"key": base64, "value": base64} (etcd 3.4). Same keys and 256-byte values as
-- concord-put.lua.
package.path = debug.getinfo(1, "S").source:match("@?(.*/)") .. "?.lua;" .. package.path
require("common")

local B = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

local function b64(s)
	local out = {}
	for i = 1, #s, 3 do
		local a, b, c = s:byte(i, i + 2)
		local n = a * 65536 + (b or 0) * 256 + (c or 0)
		local c1 = math.floor(n / 262144) % 64
		local c2 = math.floor(n / 4096) % 64
		local c3 = math.floor(n / 64) % 64
		local c4 = n % 64
		out[#out + 1] = B:sub(c1 + 1, c1 + 1) .. B:sub(c2 + 1, c2 + 1) ..
			(b and B:sub(c3 + 1, c3 + 1) or "=") .. (c and B:sub(c4 + 1, c4 + 1) or "=")
	end
	return table.concat(out)
end

local VALUE64 = b64(VALUE)
local HEADERS = { ["Content-Type"] = "application/json" }

function request()
	local body = '{"key":"' .. b64(key()) .. '","value":"' .. VALUE64 .. '"}'
	return wrk.format("POST", "/v3/kv/put", HEADERS, body)
end
