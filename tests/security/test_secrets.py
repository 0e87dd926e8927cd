"""No raw key or secret in logs, error bodies, admin outputs or Redis, over a whole run."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import ADMIN_KEY, OTHER_KEY, USER_KEY, Stack, image_bytes
from tests.jobs.test_batch_e2e import upload
from tests.support.sse import read_until_terminal

FAL_SECRET = "fal-secret-0123456789abcdef0123456789"
SIGNING_SECRET = "signing-secret-0123456789abcdef0123456789"
WRONG_KEY = "wrong-key-but-long-enough-to-look-real"


def test_secrets_never_leak(make_stack, caplog) -> None:  # type: ignore[no-untyped-def]
    stack: Stack = make_stack(
        FAL_KEY=FAL_SECRET, SECRET_KEY=SIGNING_SECRET, DEFAULT_PROVIDER="sleepy"
    )
    stack.start_worker(concurrency=1)
    seen: list[str] = []
    job = upload(stack, [("s.png", image_bytes())], delay="0")
    with stack.client() as client:
        read_until_terminal(client, f"/api/v1/status/tasks/{job['job_id']}/stream")
        seen += [client.get(f"/api/v1/download/{job['job_id']}/all").text]
    with stack.client(key=WRONG_KEY) as wrong:
        seen += [wrong.get(f"/api/v1/models/job/{job['job_id']}").text]
    with stack.client(key=OTHER_KEY) as other:
        seen += [other.get(f"/api/v1/models/job/{job['job_id']}").text]
    with stack.client(key=ADMIN_KEY) as admin:
        for path in (
            "/api/v1/health/detailed",
            "/api/v1/admin/system-health",
            "/api/v1/admin/jobs",
            "/api/v1/admin/disk-usage",
            "/api/v1/logs/statistics",
            "/api/v1/logs/analyze?hours_back=1",
            "/metrics",
            "/openapi.json",
        ):
            response = admin.get(path)
            assert response.status_code == 200, (path, response.text)
            seen.append(response.text)
    with stack.client() as client:
        seen.append(
            client.post(
                "/api/v1/upload/", files=[("files", ("a.png", b"x"))], data={"provider": "fal"}
            ).text
        )
    data_dir = Path(stack.env["DATA_DIR"])
    files = [p for p in data_dir.rglob("*.log*") if p.is_file()]
    assert files, "the run wrote log files"
    seen += [p.read_text(errors="replace") for p in files]
    seen += [r.getMessage() for r in caplog.records]
    for key in stack.redis.scan_iter("*"):
        kind = stack.redis.type(key)
        if kind == "string":
            seen.append(str(stack.redis.get(key)))
        elif kind == "hash":
            seen.append(str(stack.redis.hgetall(key)))
        elif kind == "stream":
            seen.append(str(stack.redis.xrange(key)))
        elif kind == "list":
            seen.append(str(stack.redis.lrange(key, 0, -1)))
        seen.append(key)
    everything = "\n".join(seen)
    for secret in (USER_KEY, OTHER_KEY, ADMIN_KEY, WRONG_KEY, FAL_SECRET, SIGNING_SECRET):
        assert secret not in everything, f"a secret leaked ({secret[:6]}…)"
