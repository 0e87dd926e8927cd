"""Every failure ends the item with a clear code, once, and the key never leaks."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.conftest import Stack, image_bytes
from tests.providers.fal.conftest import wait_until
from tests.providers.fal.test_fal_batch import run_job
from tests.support.fake_fal import FakeFal, Reply

VALIDATION = Reply(
    422,
    {"detail": [{"loc": ["body", "face_limit"], "msg": "must be at least 500", "type": "x"}]},
)


def error_of(done: dict) -> dict:
    return done["status"]["files"][0]["error"]


def worker_logs(stack: Stack) -> str:
    return "".join(p.read_text() for p in Path(stack.env["DATA_DIR"]).glob("worker-*.log"))


def test_fal_errors_fail_items_with_clear_codes(
    fal_stack: Callable[..., Stack], fal: FakeFal
) -> None:
    stack = fal_stack()
    stack.start_worker(concurrency=1)

    fal.script["submit"].append(VALIDATION)
    invalid = run_job(stack, [("v.png", image_bytes())])
    assert error_of(invalid)["code"] == "PROVIDER_VALIDATION"
    assert "face_limit: must be at least 500" in error_of(invalid)["message"]

    fal.fail_results = True
    failed = run_job(stack, [("f.png", image_bytes())])
    assert error_of(failed)["code"] == "PROVIDER_VALIDATION"
    assert "No object found in the image" in error_of(failed)["message"]
    fal.fail_results = False

    gone = Reply(404, {"detail": "Request not found"})
    fal.script["stream"].append(gone)  # taken for a missing stream: the status is asked
    fal.script["status"].append(gone)
    lost = run_job(stack, [("l.png", image_bytes())])
    assert error_of(lost)["code"] == "PROVIDER_REQUEST_LOST"
    assert len(fal.entries("submit")) == 3, "no error led to a second submit"


def test_wrong_key_is_provider_auth_and_never_logged(
    fal_stack: Callable[..., Stack], fal: FakeFal
) -> None:
    wrong = "fal-wrong-key-0000-1111"
    stack = fal_stack(FAL_KEY=wrong)
    stack.start_worker(concurrency=1)
    done = run_job(stack, [("a.png", image_bytes())])
    assert done["events"][-1].event == "task_failed"
    assert error_of(done)["code"] == "PROVIDER_AUTH"
    assert "FAL_KEY" in error_of(done)["message"]
    assert len(fal.entries("submit")) == 1, "an auth failure is not retried"
    assert wrong not in str(done) and wrong not in worker_logs(stack)


def test_slow_replies_timeouts_and_the_deadline(
    fal_stack: Callable[..., Stack], fal: FakeFal
) -> None:
    stack = fal_stack(FAL_REQUEST_TIMEOUT="1", FAL_ITEM_DEADLINE="6")
    stack.start_worker(concurrency=1)

    fal.script["stream"].extend([Reply(200, None, delay=2.5)] * 2)  # two waits time out
    slow_streams = run_job(stack, [("p.png", image_bytes())])
    assert slow_streams["events"][-1].event == "task_completed"
    # the fake logs a call once it has answered it, 2.5 s late for the abandoned ones
    wait_until(lambda: len(fal.entries("stream")) == 3, what="two retried stream openings")
    assert len(fal.accepted()) == 1

    fal.delay["submit"] = 2.5  # accepted, but the reply comes after our timeout
    uncertain = run_job(stack, [("u.png", image_bytes())])
    fal.delay["submit"] = 0.0
    assert error_of(uncertain)["code"] == "PROVIDER_SUBMIT_UNCERTAIN"
    wait_until(lambda: len(fal.accepted()) == 2, what="the fake to log the slow submit")
    assert len(fal.entries("submit")) == 2, "an unanswered submit is never sent again"

    fal.run_seconds = 60.0
    late = run_job(stack, [("t.png", image_bytes())])
    assert error_of(late)["code"] == "PROVIDER_TIMEOUT"
    assert "FAL_ITEM_DEADLINE" in error_of(late)["message"]
    assert fal.entries("cancel", 202), "the abandoned request was cancelled"


def test_missing_key_never_stops_start_up_and_is_a_clear_error(
    make_stack: Callable[..., Stack], fal: FakeFal
) -> None:
    stack = make_stack(FAL_QUEUE_HOST=fal.host, SSL_CERT_FILE=str(fal.ca_file))
    stack.start_worker(concurrency=1)
    with stack.client() as client:
        files = [("files", ("a.png", image_bytes(), "image/png"))]
        response = client.post("/api/v1/upload/", files=files, data={"provider": "fal"})
        assert response.status_code == 422
        assert response.json()["error_code"] == "PROVIDER_NOT_CONFIGURED"
        assert "FAL_KEY" in response.json()["message"]
        listing = client.get("/api/v1/models/providers").json()
        assert "fal" not in [p["name"] for p in listing["providers"]]
        assert listing["unavailable"] == [
            {"name": "fal", "reason": "FAL_KEY is not set on this server"}
        ]


def test_worker_without_key_fails_the_item(fal_stack: Callable[..., Stack], fal: FakeFal) -> None:
    stack = fal_stack()
    del stack.env["FAL_KEY"]  # the API has a key, this worker does not
    stack.start_worker(concurrency=1)
    done = run_job(stack, [("n.png", image_bytes())])
    assert done["events"][-1].event == "task_failed"
    assert error_of(done)["code"] == "PROVIDER_NOT_CONFIGURED"
    assert fal.queue_entries() == []
