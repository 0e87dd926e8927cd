"""The fields and shapes clients of the replaced service read, pinned beside today's: a
client written for that service keeps working unchanged (docs/compatibility.md)."""

from __future__ import annotations

from tests.conftest import OTHER_KEY, RED, Stack, image_bytes
from tests.jobs.test_batch_e2e import upload
from tests.support.sse import read_until_terminal
from tests.support.waiting import wait_until


def finished(stack: Stack, images: list[tuple[str, bytes]], **fields: str) -> tuple[dict, list]:
    job = upload(stack, images, delay="0", **fields)
    with stack.client() as client:
        events = read_until_terminal(client, f"/api/v1/status/tasks/{job['job_id']}/stream")
    return job, events


def test_every_event_names_its_task_and_time(stack: Stack) -> None:
    stack.start_worker(concurrency=2)
    job, events = finished(stack, [("a.png", image_bytes()), ("b.png", image_bytes(RED))])
    for event in events:
        assert event.data["task_id"] == job["job_id"], event.event
        assert isinstance(event.data["timestamp"], int) and event.data["timestamp"] > 1.7e12
    [completed] = [e for e in events if e.event == "task_completed"]
    assert completed.data["progress"] == 100 and isinstance(completed.data["message"], str)
    assert completed.data["status"] == "partial"


def test_task_status_says_the_celery_state_and_the_result_or_error(stack: Stack) -> None:
    with stack.client() as client:
        queued = upload(stack, [("a.png", image_bytes())], delay="0")
        waiting = client.get(f"/api/v1/status/tasks/{queued['job_id']}/status").json()
    assert waiting["state"] == "PENDING" and waiting["status"] == "queued"
    assert isinstance(waiting["timestamp"], int)
    assert waiting["result"] is None and waiting["error"] is None

    stack.start_worker(concurrency=2)
    done, _ = finished(stack, [("a.png", image_bytes())])
    failed, _ = finished(stack, [("r.png", image_bytes(RED))])
    with stack.client() as client:
        success = client.get(f"/api/v1/status/tasks/{done['job_id']}/status").json()
        failure = client.get(f"/api/v1/status/tasks/{failed['job_id']}/status").json()
    assert success["state"] == "SUCCESS" and success["progress"] == 100
    result = success["result"]
    assert result["job_id"] == done["job_id"] and result["successful_files"] == 1
    assert result["files"] == [
        {
            "file_id": done["uploaded_files"][0]["file_id"],
            "filename": "a.png",
            "status": "completed",
        }
    ]
    assert failure["state"] == "FAILURE" and failure["status"] == "failed"
    assert failure["error"] == "All 1 files failed"
    [detail] = failure["error_details"]["files"]
    assert detail["filename"] == "r.png" and detail["error"]["code"]


def test_job_progress_lists_files_by_id_with_the_counts(stack: Stack) -> None:
    stack.start_worker(concurrency=2)
    job, _ = finished(stack, [("a.png", image_bytes()), ("r.png", image_bytes(RED))])
    with stack.client() as client:
        body = client.get(f"/api/v1/status/jobs/{job['job_id']}/progress").json()
    assert body["overall_progress"] == 100 == body["progress"]
    assert (body["total_files"], body["completed_files"], body["failed_files"]) == (2, 1, 1)
    assert isinstance(body["timestamp"], int)
    ids = [f["file_id"] for f in job["uploaded_files"]]
    assert list(body["files"]) == ids, "an object keyed by file id"
    good, bad = (body["files"][i] for i in ids)
    assert good == {
        "file_id": ids[0],
        "filename": "a.png",
        "status": "completed",
        "progress": 100,
        "error": None,
    }
    assert bad["status"] == "failed" and isinstance(bad["error"], str) and bad["error"]
    assert [f["file_id"] for f in body["file_list"]] == ids, "today's list, renamed"
    assert body["file_list"][1]["error"]["message"] == bad["error"]


def test_the_upload_answer_keeps_the_old_per_file_fields(stack: Stack) -> None:
    job = upload(stack, [("a.png", image_bytes())], delay="0")
    [entry] = job["uploaded_files"]
    assert entry["status"] == "uploaded" and entry["item_status"] == "queued"
    assert entry["task_id"] == job["job_id"] == job["task_id"]


def test_the_old_upload_status_routes_answer_for_the_owner_only(stack: Stack) -> None:
    stack.start_worker(concurrency=2)
    job, _ = finished(stack, [("a.png", image_bytes()), ("r.png", image_bytes(RED))])
    file_id = job["uploaded_files"][0]["file_id"]
    with stack.client() as client:
        one = client.get(f"/api/v1/upload/status/{file_id}").json()
        batch = client.get(f"/api/v1/upload/batch/{job['job_id']}/status").json()
    assert one == {
        "file_id": file_id,
        "filename": "a.png",
        "status": "uploaded",
        "processing_status": "completed",
        "progress": 100,
        "job_id": job["job_id"],
        "task_id": job["job_id"],
    }
    assert batch["batch_id"] == job["job_id"] and batch["status"] == "partial"
    assert batch["progress"] == {"total_files": 2, "processed_files": 1, "failed_files": 1}
    with stack.client(key=OTHER_KEY) as stranger:
        for path in (
            f"/api/v1/upload/status/{file_id}",
            f"/api/v1/upload/batch/{job['job_id']}/status",
            "/api/v1/upload/status/not-an-id",
        ):
            assert stranger.get(path).status_code == 404, path


def test_a_file_comes_by_name_alone_from_the_callers_newest_job(stack: Stack) -> None:
    stack.start_worker(concurrency=2)
    # a face limit makes the older job's model differ from the newer one's
    older, _ = finished(stack, [("chair.png", image_bytes())], face_limit="100")
    newer, _ = finished(stack, [("chair.png", image_bytes((40, 90, 200)))])
    with stack.client() as client:
        direct = client.get("/api/v1/download/direct/chair.glb")
        by_job = client.get(f"/api/v1/download/{newer['job_id']}/chair.glb")
        old_one = client.get(f"/api/v1/download/{older['job_id']}/chair.glb")
        converted = client.get("/api/v1/download/direct/chair.stl")
        missing = client.get("/api/v1/download/direct/table.glb")
    assert old_one.status_code == 200 and old_one.content != by_job.content
    assert direct.status_code == 200 and direct.content == by_job.content, "the newest job's"
    assert direct.headers["content-type"] == "model/gltf-binary"
    assert converted.status_code == 200 and converted.headers["content-type"] == "model/stl"
    assert missing.status_code == 404
    with stack.client(key=OTHER_KEY) as stranger:
        assert stranger.get("/api/v1/download/direct/chair.glb").status_code == 404


def test_health_routes_say_the_service_and_time_with_the_old_component_lists(
    stack: Stack,
) -> None:
    from datetime import datetime

    from tests.conftest import ADMIN_KEY

    stack.start_worker(concurrency=1)
    with stack.client(key=None) as anyone:
        for path in ("/api/v1/health/", "/health"):
            body = anyone.get(path).json()
            assert body["status"] == "healthy" and body["service"] == "image2model", path
            assert datetime.fromisoformat(body["timestamp"]).tzinfo is not None, path
        root = anyone.get("/", headers={"Accept": "application/json"}).json()
        assert isinstance(root["message"], str) and root["message"]
        alive = anyone.get("/api/v1/health/liveness").json()
        assert alive["status"] == "alive" and datetime.fromisoformat(alive["timestamp"])
        # the worker's first heartbeat may still be on its way
        wait_until(lambda: anyone.get("/api/v1/health/readiness").status_code == 200, 15)
        ready_body = anyone.get("/api/v1/health/readiness").json()
    assert ready_body["components"] == [
        {"name": "redis", "status": "healthy"},
        {"name": "workers", "status": "healthy"},
    ]
    assert ready_body["checks"]["redis"]["healthy"] is True
    with stack.client(key=ADMIN_KEY) as admin:
        detailed = admin.get("/api/v1/health/detailed").json()
    names = [c["name"] for c in detailed["components"]]
    assert names[:2] == ["redis", "workers"] and "disk" in names
    for component in detailed["components"]:
        assert set(component) == {"name", "status", "response_time_ms", "details"}
        assert component["status"] in ("healthy", "unhealthy")
    assert detailed["checks"]["redis"]["healthy"] is True
    assert detailed["service"] == "image2model" and detailed["uptime_seconds"] >= 0


def test_generate_takes_the_old_body_and_says_how_long(stack: Stack) -> None:
    stack.start_worker(concurrency=2)
    first, _ = finished(stack, [("a.png", image_bytes())])
    file_id = first["uploaded_files"][0]["file_id"]
    assert isinstance(first["estimated_time"], int) and first["estimated_time"] > 0
    old_body = {
        "file_id": file_id,
        "model_type": "tripo3d",
        "quality": "high",
        "texture_enabled": True,
    }
    with stack.client() as client:
        again = client.post("/api/v1/models/generate", json=old_body)
        assert again.status_code == 202, again.text
        job = again.json()
        assert isinstance(job["estimated_time"], int) and job["estimated_time"] > 0
        assert [f["filename"] for f in job["uploaded_files"]] == ["a.png"]
        # texture_enabled is the model's own texture switch (the offline generator's here)
        untextured = {**old_body, "texture_enabled": False, "provider": "local"}
        job = client.post("/api/v1/models/generate", json=untextured).json()
        document = client.get(f"/api/v1/models/job/{job['job_id']}").json()
        assert document["options"]["texture"] is False
        refusals = [
            {"file_id": file_id, "file_ids": [file_id]},
            {"file_id": file_id, "model_type": "dalle"},
            {"file_id": file_id, "quality": "ultra"},
            {"model_type": "tripo3d"},
            {"file_id": file_id, "texture_enabled": False},  # this model is never untextured
        ]
        for body in refusals:
            response = client.post("/api/v1/models/generate", json=body)
            assert response.status_code == 422, (body, response.text)


def test_available_models_are_the_old_list_with_the_new_details(stack: Stack) -> None:
    with stack.client() as client:
        listed = client.get("/api/v1/models/available").json()
        grouped = client.get("/api/v1/models/providers").json()
    assert isinstance(listed, list) and listed
    for entry in listed:
        assert isinstance(entry["name"], str) and isinstance(entry["description"], str)
        assert entry["type"] == "image_to_3d"
        assert entry["supported_formats"][:4] == ["glb", "obj", "stl", "ply"], "then newer ones"
        assert {"provider", "options", "views", "default"} <= set(entry)
    [default] = [e for e in listed if e["default"]]
    assert listed[0] is not None and listed[0]["name"] == default["name"]
    assert default["provider"] == grouped["default_provider"]
    ids = [m["id"] for p in grouped["providers"] for m in p["models"]]
    assert sorted(e["name"] for e in listed) == sorted(ids)


def test_a_listed_name_as_model_type_chooses_that_model_and_its_provider(stack: Stack) -> None:
    upload_job = upload(stack, [("a.png", image_bytes())], delay="0")
    file_id = upload_job["uploaded_files"][0]["file_id"]
    with stack.client() as client:
        listed = client.get("/api/v1/models/available").json()
        [offline] = [e for e in listed if e["provider"] == "local"]
        body = {"file_id": file_id, "model_type": offline["name"]}
        job = client.post("/api/v1/models/generate", json=body).json()
        document = client.get(f"/api/v1/models/job/{job['job_id']}").json()
    assert document["options"]["provider"] == "local"
    assert document["options"]["model"] == offline["name"]


BASE = "https://models.example.com/i2m"


def test_with_a_public_base_url_every_link_handed_out_is_absolute(make_stack) -> None:  # type: ignore[no-untyped-def]
    stack: Stack = make_stack(PUBLIC_BASE_URL=f"{BASE}/")
    stack.start_worker(concurrency=1)
    job, events = finished(stack, [("a.png", image_bytes())])
    assert job["stream_url"].startswith(f"{BASE}/api/v1/status/tasks/{job['job_id']}/stream?")
    assert job["status_url"] == f"{BASE}/api/v1/status/tasks/{job['job_id']}/status"
    [completed] = [e for e in events if e.event == "task_completed"]
    assert completed.data["result"]["download_url"].startswith(f"{BASE}/api/v1/models/download/")
    assert completed.data["result"]["files_url"] == f"{BASE}/api/v1/download/{job['job_id']}/all"
    with stack.client() as client:
        listing = client.get(f"/api/v1/download/{job['job_id']}/all").json()
    [entry] = listing["files"]
    links = [entry["rendered_image"]["url"], *entry["formats"].values(), *listing["download_urls"]]
    assert all(link.startswith(f"{BASE}/api/v1/download/") for link in links), links
    # the same links, served here under the base's path, work with no key
    with stack.client(key=None) as browser:
        glb = browser.get(entry["formats"]["glb"].removeprefix(BASE))
        assert glb.status_code == 200 and glb.content[:4] == b"glTF"


def test_without_it_links_stay_relative(stack: Stack) -> None:
    job = upload(stack, [("a.png", image_bytes())], delay="0")
    assert job["stream_url"].startswith("/api/v1/") and job["status_url"].startswith("/api/v1/")


def test_a_stream_with_a_timeout_ends_then_and_resumes(stack: Stack) -> None:
    from image2model.jobs.events import id_key
    from tests.support.sse import SseEvent, iter_events

    stack.start_worker(concurrency=1)
    job = upload(stack, [("a.png", image_bytes())], delay="3", steps="3")
    path = f"/api/v1/status/tasks/{job['job_id']}/stream"
    with stack.client() as client:
        with client.stream("GET", path, params={"timeout": 1}) as response:
            first = [e for e in iter_events(response) if isinstance(e, SseEvent)]
        last = first[-1]
        assert last.event == "connection_timeout" and last.id is None
        assert last.data["status"] == "timeout" and last.data["task_id"] == job["job_id"]
        cursor = [e.id for e in first if e.id][-1]
        rest = read_until_terminal(client, path, headers={"Last-Event-ID": cursor})
        assert rest[-1].event == "task_completed"
        assert all(id_key(e.id or "") > id_key(cursor) for e in rest), "resumed after it"
        for bad in ("0", "86401", "soon"):
            assert client.get(path, params={"timeout": bad}).status_code == 422, bad


def test_cleanup_job_with_a_job_id_removes_that_job_as_before(stack: Stack) -> None:
    from tests.conftest import ADMIN_KEY

    stack.start_worker(concurrency=1)
    job, _ = finished(stack, [("a.png", image_bytes())])
    job_id = job["job_id"]
    uploads, results = stack.settings.upload_dir / job_id, stack.settings.results_dir / job_id
    expected = [p for root in (uploads, results) for p in root.rglob("*") if p.is_file()]
    assert expected
    with stack.client(key=ADMIN_KEY) as admin:
        response = admin.post("/api/v1/admin/cleanup-job", json={"job_id": job_id})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["files_removed"] >= len(expected) and body["freed_space_mb"] > 0
        assert body["job_id"] == job_id and body["message"]
        assert not uploads.exists() and not results.exists()
        assert admin.get(f"/api/v1/models/job/{job_id}").status_code == 404
        for unknown in (job_id, "../etc", "not-an-id"):
            missing = admin.post("/api/v1/admin/cleanup-job", json={"job_id": unknown})
            assert missing.status_code == 404, unknown
    with stack.client() as user:
        refused = user.post("/api/v1/admin/cleanup-job", json={"job_id": job_id})
        assert refused.status_code == 403


def test_log_cleanup_answers_the_old_method_too(stack: Stack) -> None:
    from tests.conftest import ADMIN_KEY

    with stack.client(key=ADMIN_KEY) as admin:
        old = admin.delete("/api/v1/logs/cleanup", params={"older_than_days": 30})
        new = admin.post("/api/v1/logs/cleanup", params={"older_than_days": 30})
    assert old.status_code == new.status_code == 200
    assert set(old.json()) == set(new.json())


def test_admin_reports_carry_the_old_field_names(stack: Stack) -> None:
    from tests.conftest import ADMIN_KEY

    stack.start_worker(concurrency=1)
    finished(stack, [("a.png", image_bytes())])
    with stack.client(key=ADMIN_KEY) as admin:
        usage = admin.get("/api/v1/admin/disk-usage").json()
        files = admin.get("/api/v1/admin/list-files", params={"limit": 1}).json()
        health = admin.get("/api/v1/admin/system-health").json()
    for name in ("upload_dir", "output_dir"):
        tree = usage[name]
        assert tree["file_count"] >= 1 and tree["directory_count"] == 1
        assert tree["size_mb"] > 0 and 0 < tree["disk_usage_percent"] <= 100
        assert tree["disk_total_gb"] >= tree["disk_free_gb"] > 0
    assert usage["results"]["file_count"] == usage["output_dir"]["file_count"], "today's too"
    assert isinstance(usage["timestamp"], str)
    assert files["directory"] == "results" and len(files["items"]) == 1 == files["page_size"]
    item = files["items"][0]
    assert set(item) == {"path", "size_mb", "modified", "is_directory", "file_count"}
    assert files["total_files"] == files["total"] and files["total_size_mb"] > 0
    assert health["disk_usage"]["output_dir"]["path"] == usage["output_dir"]["path"]
    assert isinstance(health["warnings"], list) and isinstance(health["timestamp"], str)
    assert health["checks"] and health["status"] in ("healthy", "warning", "critical")


def test_log_reports_carry_the_old_field_names(stack: Stack) -> None:
    from tests.conftest import ADMIN_KEY

    with stack.client(key=ADMIN_KEY) as admin:
        admin.get("/api/v1/health/")  # at least one access line
        types = admin.get("/api/v1/logs/types").json()
        stats = admin.get("/api/v1/logs/statistics").json()
        analysis = admin.get("/api/v1/logs/analyze", params={"hours_back": 1}).json()
        cleanup = admin.delete("/api/v1/logs/cleanup", params={"older_than_days": 30}).json()
    assert "api" in types["log_types"] and types["total_types"] == len(types["log_types"])
    assert types["details"]["api"]["file_count"] >= 1 and types["details"]["api"]["latest_file"]
    assert stats["total_files"] >= 1 and stats["total_size_mb"] > 0
    assert (
        stats["log_directory"] == stats["log_dir"] and stats["oldest_file"] <= stats["newest_file"]
    )
    assert stats["by_type"]["api"]["file_count"] >= 1
    assert 0 <= stats["disk_usage"]["usage_percent"] <= 100
    assert analysis["lines_analyzed"] == analysis["total_lines"] > 0
    assert analysis["log_levels"] == analysis["levels"] and "hours_back" in analysis["time_range"]
    assert isinstance(analysis["error_patterns"], dict)
    assert isinstance(analysis["request_patterns"], dict) and analysis["performance_metrics"]
    assert cleanup["status"] == "completed" and cleanup["removed_files"] == cleanup["deleted_count"]
    assert cleanup["errors"] == [] and cleanup["total_size_removed_mb"] >= 0


def test_admin_cleanup_takes_the_old_json_body_and_says_what_it_removed(stack: Stack) -> None:
    from tests.api.test_admin import make_job_folder
    from tests.conftest import ADMIN_KEY

    settings = stack.settings
    old = make_job_folder(settings.results_dir, 30 * 3600, files=3, size=1024)
    recent = make_job_folder(settings.results_dir, 3600)
    with stack.client(key=ADMIN_KEY) as admin:
        dry = admin.post("/api/v1/admin/cleanup", json={"hours": 24, "dry_run": True}).json()
        assert dry["dry_run"] is True and dry["files_removed"] == 0
        assert (settings.results_dir / old).is_dir()
        real = admin.post("/api/v1/admin/cleanup", json={"hours": 24}).json()
    assert real["files_removed"] == 3 and real["directories_removed"] == 1
    assert abs(real["freed_space_mb"] - 3 * 1024 / 2**20) < 1e-9
    assert real["cleanup_hours"] == 24 and real["errors"] == [] and real["timestamp"]
    assert not (settings.results_dir / old).exists() and (settings.results_dir / recent).is_dir()


def test_log_export_answers_the_old_method_with_where_to_get_the_file(stack: Stack) -> None:
    from datetime import UTC, datetime

    from tests.conftest import ADMIN_KEY

    today = datetime.now(UTC).date().isoformat()
    params = {"start_date": today, "end_date": today, "format": "csv"}
    with stack.client(key=ADMIN_KEY) as admin:
        admin.get("/api/v1/health/")  # at least one line today
        summary = admin.post("/api/v1/logs/export", params=params)
        assert summary.status_code == 200, summary.text
        body = summary.json()
        assert body["status"] == "completed" and body["lines"] > 0
        assert body["parameters"]["format"] == "csv"
        file = admin.get(body["download_url"])
    assert file.status_code == 200 and int(file.headers["X-Export-Lines"]) >= body["lines"]
