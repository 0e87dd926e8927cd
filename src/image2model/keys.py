"""Every Redis key the service uses, and how long the keys live; this module imports nothing.

Layout (prefix `i2m:`):
  job:{id}             hash   status, owner, meta (JSON), order (JSON file ids), counters
  job:{id}:items       hash   file_id → item JSON
  job:{id}:events      stream progress events; entry ids are the SSE ids
  jobs:active          set    ids of jobs not yet terminal (recovery scans these)
  jobs:unfinalized     zset   closed jobs whose manifest is not written yet → closing time
  owner:{key_id}:jobs  zset   job ids by creation time (listings)
  owner:{key_id}:active counter of the key's unfinished jobs (per-key cap)
  lease:{id}:{file_id} string worker holding the item; expires unless renewed
  requeue:{id}:{file}  string marks a recent re-enqueue of a stalled item
  file:{file_id}       string the job an uploaded image belongs to (new jobs from old uploads)
  workers              zset   worker name → last heartbeat (readiness)
  storage:id           string the upload tree's identity (`Storage.identity`), set by the API
  ratelimit:…          (limits library) moving-window request counters per key or client IP
  fal:slots            zset   holders of fal request slots → expiry (ms); shared concurrency cap
  jobs:all             zset   every job id by creation time (admin listing, metrics); pruned
                              of ids whose job expired when read
  metrics:tasks        hash   task durations and counts recorded by workers (scraped by the API)
  metrics:providers    hash   provider calls and latency recorded by workers
  {queue}[\\x06\\x16{p}]  list   Celery's (kombu's) broker queues, named by queue and priority
The job's keys expire `JOB_TTL` after it ends; while active they carry no TTL. Only
`image2model.jobs` reads or writes the job keys; other layers use these names for their own keys.
"""

PREFIX = "i2m"
ACTIVE_JOBS = f"{PREFIX}:jobs:active"
ALL_JOBS = f"{PREFIX}:jobs:all"
UNFINALIZED_JOBS = f"{PREFIX}:jobs:unfinalized"
WORKERS = f"{PREFIX}:workers"
STORAGE_ID = f"{PREFIX}:storage:id"
FAL_SLOTS = f"{PREFIX}:fal:slots"
FAL_SLOT_TTL_MS = 60_000
FAL_SLOTS_FREED = f"{PREFIX}:fal:slots:freed"
FAL_SUBMIT_RATE_PREFIX = f"{PREFIX}:fal:submits"
"""A fal slot holder that stops renewing (its worker died) frees the slot after this long."""
RATE_LIMIT_PREFIX = f"{PREFIX}:ratelimit"
TASK_METRICS = f"{PREFIX}:metrics:tasks"
PROVIDER_METRICS = f"{PREFIX}:metrics:providers"
LOG_METRICS = f"{PREFIX}:metrics:logs"
"""Log lines workers could not write (full disk), by process kind."""
BROKER_PRIORITY_STEPS = (3, 6, 9)
"""kombu's Redis transport keeps one list per queue and priority step (0 is the bare name)."""
EVENTS_MAXLEN = 5000
REQUEUE_GUARD_SECONDS = 300
FILE_INDEX_TTL = 7 * 24 * 3600
WORKER_ALIVE_SECONDS = 30.0
"""A worker with a heartbeat this recent counts as alive (metrics, routing)."""
WORKER_FORGET_SECONDS = 3600
"""Heartbeats older than this are dropped from the workers set."""


def job_key(job_id: str) -> str:
    return f"{PREFIX}:job:{job_id}"


def items_key(job_id: str) -> str:
    return f"{PREFIX}:job:{job_id}:items"


def events_key(job_id: str) -> str:
    return f"{PREFIX}:job:{job_id}:events"


def job_of_events_key(key: str) -> str:
    """The job id in an `events_key`."""
    return key[len(job_key("")) : -len(":events")]


def owner_jobs_key(owner: str) -> str:
    return f"{PREFIX}:owner:{owner}:jobs"


def owner_active_key(owner: str) -> str:
    return f"{PREFIX}:owner:{owner}:active"


def file_key(file_id: str) -> str:
    return f"{PREFIX}:file:{file_id}"


def lease_key(job_id: str, file_id: str) -> str:
    return f"{PREFIX}:lease:{job_id}:{file_id}"


def requeue_key(job_id: str, file_id: str) -> str:
    return f"{PREFIX}:requeue:{job_id}:{file_id}"


def broker_queue_keys(queue: str) -> list[str]:
    """The Redis lists holding a Celery queue's waiting messages."""
    return [queue, *(f"{queue}\x06\x16{step}" for step in BROKER_PRIORITY_STEPS)]
