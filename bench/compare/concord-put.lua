-- concord-put.lua: wrk load for Concord's HTTP API: PUT /v1/kv/{key} with a raw 256-byte
-- body (docs/http.md). Usage: wrk -s bench/compare/concord-put.lua http://127.0.0.1:PORT
package.path = debug.getinfo(1, "S").source:match("@?(.*/)") .. "?.lua;" .. package.path
require("common")

function request()
	return wrk.format("PUT", "/v1/kv/" .. key(), nil, VALUE)
end
