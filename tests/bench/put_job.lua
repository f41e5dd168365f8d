-- wrk script: PUT the same job with a changing parameter, so that every
-- request is a real update (the revision grows each time).
local n = 0
local path = os.getenv("BENCH_JOB_PATH")

request = function()
    n = n + 1
    local body = string.format(
        '{"@type":"cac_ledger_schema_info_ledger_job_info",' ..
        '"name":"bench-put","roles":["reporting"],' ..
        '"parameters":{"source":"sales","region":"eu","run":"%d-%d"}}',
        n, math.random(1, 1000000000))
    return wrk.format("PUT", path, {
        ["Content-Type"] = "application/json",
        ["request-id"] = "bench-" .. n,
        ["source"] = "bench",
    }, body)
end
