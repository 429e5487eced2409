-- common.lua: shared by the wrk scripts here: random keys over a fixed space, and one
-- machine-readable line at the end (WRK rps=.. p50_us=.. p99_us=.. ...), parsed by
-- scripts/bench-compare.sh. Keys k000000..k099999 (like redis-benchmark -r 100000),
-- values of 256 bytes.
KEYSPACE = 100000
VALUE = string.rep("x", 256)

function key()
	return string.format("k%06d", math.random(0, KEYSPACE - 1))
end

function setup(thread)
	thread:set("id", tostring(math.random(1, 1000000)))
end

function init(args)
	math.randomseed(os.time() + tonumber(id or "0"))
end

function done(summary, latency, requests)
	local e = summary.errors
	local secs = summary.duration / 1e6
	io.write(string.format(
		"WRK rps=%.1f p50_us=%d p99_us=%d requests=%d non2xx=%d connect=%d read=%d write=%d timeout=%d\n",
		summary.requests / secs, latency:percentile(50), latency:percentile(99),
		summary.requests, e.status, e.connect, e.read, e.write, e.timeout))
end
