"""/admin on real files, Redis and workers: what each route does, who may call it, and ids."""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from pathlib import Path

import httpx
import pytest

from image2model.keys import ALL_JOBS, events_key, items_key, job_key
from tests.conftest import ADMIN_KEY, OTHER_KEY, USER_KEY, Stack, image_bytes
from tests.support.ops import upload_job, wait_finished

ADMIN_ROUTES = [
    ("GET", "/api/v1/admin/disk-usage"),
    ("POST", "/api/v1/admin/cleanup"),
    ("POST", "/api/v1/admin/cleanup-job"),
    ("GET", "/api/v1/admin/list-files"),
    ("DELETE", "/api/v1/admin/delete-job/00000000-0000-4000-8000-000000000000"),
    ("GET", "/api/v1/admin/system-health"),
    ("GET", "/api/v1/admin/jobs"),
]
HOUR = 3600


def make_job_folder(root: Path, age_seconds: float, files: int = 2, size: int = 100) -> str:
    """A job's folder as cleanup finds it on disk (its Redis state long expired)."""
    job_id = str(uuid.uuid4())
    folder = root / job_id
    folder.mkdir(parents=True)
    when = time.time() - age_seconds
    for index in range(files):
        path = folder / f"file{index}.bin"
        path.write_bytes(b"x" * size)
        os.utime(path, (when, when))
    os.utime(folder, (when, when))
    return job_id


def admin(stack: Stack) -> httpx.Client:
    return stack.client(key=ADMIN_KEY)


@pytest.mark.parametrize(("method", "path"), ADMIN_ROUTES)
def test_admin_routes_need_the_admin_key(stack: Stack, method: str, path: str) -> None:
    with stack.client(key=None) as anonymous, stack.client(key=USER_KEY) as user:
        missing = anonymous.request(method, path)
        wrong = anonymous.request(
            method, path, headers={"Authorization": "Bearer nope-nope-nope-nope"}
        )
        forbidden = user.request(method, path)
    for response in (missing, wrong):
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.json()["error"] is True
    assert forbidden.status_code == 403
    assert forbidden.json()["error_code"] == "FORBIDDEN"


def test_disk_usage_counts_the_real_files(stack: Stack) -> None:
    stack.start_worker()
    job, _ = upload_job(stack, [("a.png", image_bytes()), ("b.png", image_bytes())], delay="0")
    wait_finished(stack, job["job_id"])
    with admin(stack) as client:
        usage = client.get("/api/v1/admin/disk-usage").json()
    settings = stack.settings
    for name, root in (("uploads", settings.upload_dir), ("results", settings.results_dir)):
        files = [p for p in root.rglob("*") if p.is_file()]
        assert usage[name]["file_count"] == len(files)
        assert usage[name]["size_bytes"] == sum(p.stat().st_size for p in files)
        assert usage[name]["job_count"] == 1
    assert usage["uploads"]["file_count"] == 2
    assert usage["logs"]["file_count"] >= 1 and usage["logs"]["size_bytes"] > 0
    assert usage["disk"]["total_bytes"] >= usage["disk"]["free_bytes"] > 0


def test_cleanup_dry_run_lists_and_the_real_run_deletes_only_old_finished_jobs(
    stack: Stack,
) -> None:
    settings = stack.settings
    old = make_job_folder(settings.results_dir, 30 * HOUR)
    make_job_folder(settings.upload_dir, 30 * HOUR)
    recent = make_job_folder(settings.results_dir, 1 * HOUR)
    # no worker: this job stays queued, so it is running as far as cleanup is concerned
    running, _ = upload_job(stack, [("r.png", image_bytes())], delay="0")
    running_dir = settings.upload_dir / running["job_id"]
    for path in [running_dir, *running_dir.iterdir()]:
        os.utime(path, (time.time() - 30 * HOUR, time.time() - 30 * HOUR))
    before = sorted(
        p.name for root in (settings.upload_dir, settings.results_dir) for p in root.iterdir()
    )

    with admin(stack) as client:
        dry = client.post("/api/v1/admin/cleanup", params={"hours": 24, "dry_run": True}).json()
        after_dry = sorted(
            p.name for root in (settings.upload_dir, settings.results_dir) for p in root.iterdir()
        )
        assert after_dry == before, "a dry run deletes nothing"
        listed = {j["job_id"] for j in dry["jobs"]}
        assert old in listed and recent not in listed and running["job_id"] not in listed
        assert dry["dry_run"] is True and dry["job_count"] == 2 and dry["size_bytes"] == 400

        real = client.post("/api/v1/admin/cleanup", params={"hours": 24}).json()
    assert {j["job_id"] for j in real["jobs"]} == listed
    assert not (settings.results_dir / old).exists()
    assert (settings.results_dir / recent).is_dir()
    assert running_dir.is_dir() and any(running_dir.iterdir())


def test_cleanup_job_runs_the_retention_task_on_a_worker(make_stack) -> None:
    stack = make_stack(RESULT_RETENTION=str(2 * HOUR))
    settings = stack.settings
    old = make_job_folder(settings.results_dir, 3 * HOUR)
    kept = make_job_folder(settings.results_dir, 1 * HOUR)
    stack.start_worker(concurrency=1)
    with admin(stack) as client:
        response = client.post("/api/v1/admin/cleanup-job")
    assert response.status_code == 202
    assert response.json()["task"] == "tasks.cleanup_old_files" and response.json()["task_id"]
    deadline = time.monotonic() + 20
    while (settings.results_dir / old).exists():
        assert time.monotonic() < deadline, "the maintenance task never ran"
        time.sleep(0.1)
    assert (settings.results_dir / kept).is_dir()


def test_list_files_pages_through_one_tree_without_following_links(
    stack: Stack, tmp_path: Path
) -> None:
    settings = stack.settings
    job_id = make_job_folder(settings.results_dir, 0, files=7)
    folder = settings.results_dir / job_id
    for index, path in enumerate(sorted(folder.iterdir())):
        os.utime(path, (1_000_000 + index, 1_000_000 + index))
    outside = tmp_path / "outside-secret.txt"
    outside.write_text("not yours")
    (folder / "link.txt").symlink_to(outside)
    make_job_folder(settings.upload_dir, 0, files=1)
    with admin(stack) as client:
        pages = [
            client.get(
                "/api/v1/admin/list-files",
                params={"directory": "results", "page": n, "page_size": 3},
            ).json()
            for n in (1, 2, 3)
        ]
        uploads = client.get("/api/v1/admin/list-files", params={"directory": "uploads"}).json()
        bad = client.get("/api/v1/admin/list-files", params={"directory": "../../etc"})
    assert [p["total"] for p in pages] == [7, 7, 7] and pages[0]["pages"] == 3
    names = [f["path"] for p in pages for f in p["files"]]
    assert names == [f"{job_id}/file{i}.bin" for i in range(6, -1, -1)], "newest first, no repeats"
    assert all(f["job_id"] == job_id and f["size_bytes"] == 100 for p in pages for f in p["files"])
    assert uploads["total"] == 1 and uploads["directory"] == "uploads"
    assert bad.status_code == 422


def test_delete_job_cancels_running_items_then_removes_state_and_files(stack: Stack) -> None:
    stack.start_worker(concurrency=2)
    job, _ = upload_job(
        stack, [("a.png", image_bytes()), ("b.png", image_bytes())], delay="30", steps="60"
    )
    job_id = job["job_id"]
    with stack.client() as client:
        deadline = time.monotonic() + 20
        while client.get(f"/api/v1/status/tasks/{job_id}/status").json()["status"] != "processing":
            assert time.monotonic() < deadline
            time.sleep(0.1)
    with admin(stack) as client:
        response = client.delete(f"/api/v1/admin/delete-job/{job_id}")
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["cancelled_items"] == 2 and body["workers_released"] is True
        assert client.get(f"/api/v1/models/job/{job_id}").status_code == 404
        again = client.delete(f"/api/v1/admin/delete-job/{job_id}")
    assert again.status_code == 404
    assert not stack.redis.exists(job_key(job_id), items_key(job_id), events_key(job_id))
    assert stack.redis.zscore(ALL_JOBS, job_id) is None
    settings = stack.settings
    assert not (settings.upload_dir / job_id).exists()
    assert not (settings.results_dir / job_id).exists()


def test_delete_job_removes_files_whose_state_expired(stack: Stack) -> None:
    job_id = make_job_folder(stack.settings.results_dir, 0)
    with admin(stack) as client:
        body = client.delete(f"/api/v1/admin/delete-job/{job_id}").json()
    assert body["files_removed"] is True and body["state_removed"] is False
    assert not (stack.settings.results_dir / job_id).exists()


@pytest.mark.parametrize(
    "job_id",
    ["..", "..%2F..%2Fetc", "%2e%2e", "not-an-id", "00000000-0000-4000-8000-000000000000", "*"],
)
def test_delete_job_refuses_anything_but_a_known_id(stack: Stack, job_id: str) -> None:
    sentinel = stack.settings.data_dir / "keep.txt"
    sentinel.write_text("keep")
    uploads = stack.settings.upload_dir
    (uploads / "notes").mkdir(parents=True, exist_ok=True)
    with admin(stack) as client:
        response = client.delete(f"/api/v1/admin/delete-job/{job_id}")
    assert response.status_code == 404
    assert sentinel.read_text() == "keep" and (uploads / "notes").is_dir()
    assert stack.settings.results_dir.is_dir() and uploads.is_dir()


def test_system_health_applies_the_thresholds(make_stack) -> None:
    calm = make_stack()
    with admin(calm) as client:
        report = client.get("/api/v1/admin/system-health").json()
    assert report["thresholds"] == {"warning_percent": 85.0, "critical_percent": 95.0}
    assert set(report["checks"]) == {"cpu", "memory", "disk"}
    assert report["components"]["redis"]["healthy"] is True
    assert report["components"]["workers"]["alive"] == 0
    assert report["status"] in ("warning", "critical"), "no worker is at least a warning"

    strict = make_stack(HEALTH_WARNING_PERCENT="0.0001", HEALTH_CRITICAL_PERCENT="0.0002")
    strict.start_worker(concurrency=1)
    with admin(strict) as client:
        report = client.get("/api/v1/admin/system-health").json()
    assert report["checks"]["disk"]["status"] == "critical"
    assert report["checks"]["memory"]["status"] == "critical"
    assert report["status"] == "critical"


def test_job_listing_across_keys_with_filters(stack: Stack) -> None:
    mine = [upload_job(stack, [("a.png", image_bytes())], delay="0")[0] for _ in range(2)]
    theirs, _ = upload_job(stack, [("b.png", image_bytes())], key=OTHER_KEY, delay="0")
    user_key_id = hashlib.sha256(USER_KEY.encode()).hexdigest()[:16]
    with admin(stack) as client:
        every = client.get("/api/v1/admin/jobs").json()
        by_key = client.get("/api/v1/admin/jobs", params={"key_id": user_key_id}).json()
        queued = client.get("/api/v1/admin/jobs", params={"status": "queued"}).json()
        done = client.get("/api/v1/admin/jobs", params={"status": "completed"}).json()
        recent = client.get("/api/v1/admin/jobs", params={"newer_than_hours": 1}).json()
        old = client.get("/api/v1/admin/jobs", params={"older_than_hours": 1}).json()
        paged = client.get("/api/v1/admin/jobs", params={"limit": 2, "offset": 2}).json()
        bad_status = client.get("/api/v1/admin/jobs", params={"status": "../x"})
        bad_key = client.get("/api/v1/admin/jobs", params={"key_id": "../../etc"})
    assert [j["job_id"] for j in every["jobs"]] == [
        theirs["job_id"],
        mine[1]["job_id"],
        mine[0]["job_id"],
    ], "newest first"
    assert {j["job_id"] for j in by_key["jobs"]} == {j["job_id"] for j in mine}
    assert all(j["key_id"] == user_key_id for j in by_key["jobs"])
    assert queued["total"] == 3 and done["total"] == 0
    assert recent["total"] == 3 and old["total"] == 0
    assert paged["total"] == 3 and [j["job_id"] for j in paged["jobs"]] == [mine[0]["job_id"]]
    assert every["jobs"][0]["total_files"] == 1 and every["jobs"][0]["provider"] == "sleepy"
    assert bad_status.status_code == 422 and bad_key.status_code == 422
    assert json.dumps(every).count(USER_KEY) == 0
