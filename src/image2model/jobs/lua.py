"""Server-side scripts: every item change and the job's close happen in one atomic step.

Running the transition in Redis makes "only forward" and "close exactly once" hold no matter
how many workers, redeliveries or cancel requests race on the same job.
"""

UPDATE_ITEM = r"""
-- KEYS: job hash, items hash, events stream, active-jobs set, unfinalized-jobs zset
-- ARGV: file_id, patch (JSON), now, stream maxlen, ttl, job_id, mode (update|start)
local RANK = {queued = 0, processing = 1, completed = 2, failed = 2, cancelled = 2}
local job_key, items_key, stream_key, active_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local unfinalized_key = KEYS[5]
local file_id, now, maxlen, ttl, job_id = ARGV[1], tonumber(ARGV[3]), ARGV[4], ARGV[5], ARGV[6]
local timestamp = math.floor(now * 1000)  -- milliseconds, as the events carry it

local raw = redis.call('HGET', items_key, file_id)
if not raw then return {-1, 'missing'} end
local item = cjson.decode(raw)
local patch = cjson.decode(ARGV[2])
local old = item.status
local new = patch.status or old
if RANK[old] == 2 then return {0, old} end
if RANK[new] == nil or RANK[new] < RANK[old] then return {0, old} end

-- an item's share of the job's progress: its own, or all of it once it is finished
local function counted(it)
  if RANK[it.status] == 2 then return 100 end
  return it.progress or 0
end
local counted_before = counted(item)

if ARGV[7] == 'start' then
  item.attempts = (item.attempts or 0) + 1
  item.started_at = now
end
for k, v in pairs(patch) do
  if k == 'progress' then
    if v > (item.progress or 0) then item.progress = v end
  else
    item[k] = v
  end
end
if RANK[new] == 2 then
  item.finished_at = now
  if new == 'completed' then item.progress = 100 end
end
redis.call('HSET', items_key, file_id, cjson.encode(item))

local function emit(event, data)
  return redis.call('XADD', stream_key, 'MAXLEN', '~', maxlen, '*',
    'event', event, 'data', cjson.encode(data))
end

emit('file_update', {job_id = job_id, task_id = job_id, timestamp = timestamp,
  file_id = file_id, filename = item.filename,
  status = item.status, progress = item.progress, message = item.message,
  error = item.error or cjson.null})

local job_status = redis.call('HGET', job_key, 'status')
if job_status == 'queued' and new ~= 'queued' then
  job_status = 'processing'
  redis.call('HSET', job_key, 'status', job_status)
end
local done = tonumber(redis.call('HGET', job_key, 'done') or '0')
if RANK[new] == 2 then
  done = redis.call('HINCRBY', job_key, 'done', 1)
  redis.call('HINCRBY', job_key, new, 1)
end
redis.call('HSET', job_key, 'updated_at', ARGV[3])

-- The job's progress is kept as a running sum of the items' shares, so a change costs no
-- pass over every item; a job without the sum yet (made by an earlier version) counts once.
local order = cjson.decode(redis.call('HGET', job_key, 'order'))
local total = #order
local function read_files()
  local raws = redis.call('HMGET', items_key, unpack(order))
  local files, sum = {}, 0
  for i, r in ipairs(raws) do
    local it = cjson.decode(r)
    files[i] = {file_id = it.file_id, filename = it.filename, status = it.status,
      progress = it.progress or 0}
    sum = sum + counted(it)
  end
  return files, sum
end
local files
local sum = tonumber(redis.call('HGET', job_key, 'progress_sum') or '')
if sum then
  sum = sum + counted(item) - counted_before
else
  files, sum = read_files()
end
redis.call('HSET', job_key, 'progress_sum', sum)
local progress = math.floor(sum / total + 0.5)
local function progress_event(status)
  files = files or read_files()
  return emit('task_progress', {job_id = job_id, task_id = job_id, timestamp = timestamp,
    status = status, progress = progress,
    current = done, total = total, total_files = total, files = files,
    message = string.format('%d of %d files processed', done, total)})
end

if done < total then
  -- only when what it says changed: in a large job most item updates move no rounded point
  local shown = string.format('%d:%d:%s', progress, done, job_status)
  if redis.call('HGET', job_key, 'progress_shown') ~= shown then
    redis.call('HSET', job_key, 'progress_shown', shown)
    progress_event(job_status)
  end
  return {1, job_status}
end

local completed = tonumber(redis.call('HGET', job_key, 'completed') or '0')
local failed = tonumber(redis.call('HGET', job_key, 'failed') or '0')
local cancelled = tonumber(redis.call('HGET', job_key, 'cancelled') or '0')
local summary = {total_files = total, successful_files = completed, failed_files = failed,
  cancelled_files = cancelled}
files = files or read_files()  -- the closing task_progress and the result both list them
local final, event, data
if cancelled > 0 then
  final, event = 'cancelled', 'task_cancelled'
  data = {status = final, summary = summary,
    message = string.format('Cancelled: %d completed, %d cancelled', completed, cancelled)}
elseif completed == 0 then
  final, event = 'failed', 'task_failed'
  data = {status = final, summary = summary,
    error = string.format('All %d files failed', total)}
else
  final, event = (failed > 0) and 'partial' or 'completed', 'task_completed'
  data = {status = final, summary = summary, progress = 100,
    message = string.format('%d of %d files completed', completed, total),
    result = {job_id = job_id, status = final, files = files}}
end
data.job_id, data.task_id, data.timestamp = job_id, job_id, timestamp
progress_event(final)
local event_id = emit(event, data)
redis.call('HSET', job_key, 'status', final, 'finished_at', ARGV[3], 'terminal_event_id', event_id)
redis.call('EXPIRE', job_key, ttl)
redis.call('EXPIRE', items_key, ttl)
redis.call('EXPIRE', stream_key, ttl)
redis.call('SREM', active_key, job_id)
redis.call('ZADD', unfinalized_key, ARGV[3], job_id)
local counter = redis.call('HGET', job_key, 'active_counter')
if counter then redis.call('DECR', counter) end
return {2, final}
"""
