-- wrk script: cycles through pre-built requests read from the file named by BENCH_REQUESTS.
-- Each line is METHOD<TAB>PATH<TAB>HEADER: VALUE|HEADER: VALUE<TAB>BODY (bench/__main__.py
-- writes it, with OME's HMAC signatures computed in Python right before the run, since wrk's Lua
-- has no HMAC). `done` prints one JSON line the bench reads back.
local requests = {}
local counter = 0

local function split(text, separator)
  local parts = {}
  for part in (text .. separator):gmatch("(.-)" .. separator) do table.insert(parts, part) end
  return parts
end

function init(args)
  for line in io.lines(os.getenv("BENCH_REQUESTS")) do
    local fields = split(line, "\t")
    local headers = {}
    if fields[3] ~= "" then
      for _, header in ipairs(split(fields[3], "|")) do
        local name, value = header:match("^([^:]+):%s*(.*)$")
        headers[name] = value
      end
    end
    local body = fields[4] ~= "" and fields[4] or nil
    table.insert(requests, wrk.format(fields[1], fields[2], headers, body))
  end
  counter = math.random(#requests) - 1
end

function request()
  counter = counter + 1
  return requests[(counter % #requests) + 1]
end

function done(summary, latency, requests)
  io.write(string.format(
    'BENCH {"requests": %d, "seconds": %.6f, "errors_status": %d, "errors_other": %d, "p50_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration / 1e6, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
