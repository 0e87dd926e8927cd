"""Results whose files were cleaned up while the job is still known: 410 Gone, never a 500."""

from __future__ import annotations

import shutil
from typing import Any

from tests.conftest import ADMIN_KEY, Stack, image_bytes
from tests.support.ops import upload_job, wait_finished
from tests.support.waiting import wait_until

DOWNLOADS = [
    "/api/v1/download/{job}/thing.glb",
    "/api/v1/download/{job}/thing.glb?format=obj",
    "/api/v1/download/{job}/thing.zip",
    "/api/v1/download/{job}/thing.stl",
    "/api/v1/download/{job}/thing.ply",
    "/api/v1/download/{job}/{preview}",
    "/api/v1/models/download/{job}",
    "/api/v1/models/download/{job}?format=obj",
]


def finished_job(stack: Stack) -> dict[str, Any]:
    stack.start_worker(concurrency=1)
    body, _ = upload_job(stack, [("thing.png", image_bytes())])
    assert wait_finished(stack, body["job_id"])["status"] == "completed"
    with stack.client() as client:
        listing = client.get(f"/api/v1/download/{body['job_id']}/all").json()
    assert len(listing["files"]) == 1
    return listing


def preview_name(listing: dict[str, Any]) -> str:
    return str(listing["files"][0]["rendered_image"]["url"].split("?")[0].rsplit("/", 1)[-1])


def cleanup_now(stack: Stack) -> None:
    """POST /admin/cleanup with the shortest retention until it has removed one job."""

    def cleaned() -> bool:
        with stack.client(key=ADMIN_KEY) as admin:
            response = admin.post("/api/v1/admin/cleanup", params={"hours": 0.0001})
        assert response.status_code == 200, response.text
        return bool(response.json()["job_count"] == 1)

    wait_until(cleaned, timeout=10, what="the job to pass 0.36 s of retention", interval=0.2)


def assert_gone(stack: Stack, job_id: str, preview: str) -> None:
    with stack.client() as client:
        for template in DOWNLOADS:
            response = client.get(template.format(job=job_id, preview=preview))
            assert response.status_code == 410, (template, response.text)
            body = response.json()
            assert body["error_code"] == "RESULTS_EXPIRED" and body["status_code"] == 410


def test_admin_cleanup_expires_results_everywhere(stack: Stack) -> None:
    listing = finished_job(stack)
    job_id = listing["job_id"]
    preview = preview_name(listing)
    cleanup_now(stack)

    assert_gone(stack, job_id, preview)
    with stack.client() as client:
        after = client.get(f"/api/v1/download/{job_id}/all").json()
        document = client.get(f"/api/v1/models/job/{job_id}").json()
        signed = client.get(listing["files"][0]["formats"]["glb"])
    assert after["results_expired"] is True and after["results_expired_at"] is not None
    assert after["files"] == [] and after["download_urls"] == []
    assert after["status"] == "completed"
    assert document["results_expired_at"] == after["results_expired_at"]
    # A signed link handed out before the cleanup says the same, not 404 or 500.
    assert signed.status_code == 410


def test_files_removed_behind_the_service_are_gone_not_a_crash(stack: Stack) -> None:
    listing = finished_job(stack)
    job_id = listing["job_id"]
    shutil.rmtree(stack.settings.data_dir / "results" / job_id)
    preview = preview_name(listing)
    assert_gone(stack, job_id, preview)
    with stack.client() as client:
        after = client.get(f"/api/v1/download/{job_id}/all").json()
    assert after["results_expired"] is True and after["files"] == []


def test_the_scheduled_cleanup_expires_results_too(make_stack) -> None:  # type: ignore[no-untyped-def]
    stack = make_stack(RESULT_RETENTION="1")
    listing = finished_job(stack)
    job_id = listing["job_id"]

    def expired() -> bool:
        with stack.client(key=ADMIN_KEY) as admin:
            assert admin.post("/api/v1/admin/cleanup-job").status_code == 202
            listed = admin.get(f"/api/v1/download/{job_id}/all").json()
        return bool(listed["results_expired"])

    wait_until(expired, timeout=30, what="the retention task to expire the job", interval=0.5)
    assert_gone(stack, job_id, preview_name(listing))


def test_a_running_job_is_never_expired(stack: Stack) -> None:
    body, _ = upload_job(stack, [("thing.png", image_bytes())])
    with stack.client(key=ADMIN_KEY) as admin:
        cleaned = admin.post("/api/v1/admin/cleanup", params={"hours": 0.0001}).json()
    assert cleaned["job_count"] == 0
    with stack.client() as client:
        after = client.get(f"/api/v1/download/{body['job_id']}/all").json()
    assert after["results_expired"] is False
