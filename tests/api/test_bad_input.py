"""Bad input: a clear 4xx with the envelope, nothing queued, nothing left on disk."""

from __future__ import annotations

from pathlib import Path

import pytest

from image2model.keys import ACTIVE_JOBS
from tests.conftest import Stack, image_bytes

PNG = image_bytes()


def assert_nothing_kept(stack: Stack) -> None:
    assert stack.redis.scard(ACTIVE_JOBS) == 0
    assert not stack.redis.keys("i2m:job:*")
    assert stack.redis.llen("batch_processing") == 0
    uploads = Path(stack.env["DATA_DIR"]) / "uploads"
    assert not [p for p in uploads.rglob("*") if p.is_file()]


CASES = {
    "no files": ([], {}, 400, "NO_FILES"),
    "26 files": (
        [("files", (f"{i}.png", PNG, "image/png")) for i in range(26)],
        {},
        400,
        "TOO_MANY_FILES",
    ),
    "not an image": (
        [("files", ("a.png", b"hello, I am text", "image/png"))],
        {},
        415,
        "UNSUPPORTED_MEDIA_TYPE",
    ),
    "html as png": (
        [("files", ("x.png", b"<html><script>1</script></html>", "image/png"))],
        {},
        415,
        "UNSUPPORTED_MEDIA_TYPE",
    ),
    "empty file": ([("files", ("e.png", b"", "image/png"))], {}, 400, "EMPTY_FILE"),
    "truncated png": (
        [("files", ("t.png", PNG[: len(PNG) // 2], "image/png"))],
        {},
        415,
        "UNSUPPORTED_MEDIA_TYPE",
    ),
    "unknown field": (
        [("files", ("a.png", PNG, "image/png"))],
        {"colour": "red"},
        422,
        "VALIDATION_ERROR",
    ),
    "bad face_limit": (
        [("files", ("a.png", PNG, "image/png"))],
        {"face_limit": "many"},
        422,
        "VALIDATION_ERROR",
    ),
    "face_limit too low": (
        [("files", ("a.png", PNG, "image/png"))],
        {"face_limit": "3"},
        422,
        "VALIDATION_ERROR",
    ),
    "unknown provider": (
        [("files", ("a.png", PNG, "image/png"))],
        {"provider": "nope"},
        422,
        "VALIDATION_ERROR",
    ),
    "unknown model": (
        [("files", ("a.png", PNG, "image/png"))],
        {"model": "nope"},
        422,
        "VALIDATION_ERROR",
    ),
    "one good one bad": (
        [("files", ("a.png", PNG, "image/png")), ("files", ("b.png", b"GIF89a junk", "image/gif"))],
        {},
        415,
        "UNSUPPORTED_MEDIA_TYPE",
    ),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_bad_upload(stack: Stack, case: str) -> None:
    files, data, status, code = CASES[case]
    with stack.client() as client:
        if files:
            response = client.post("/api/v1/upload/", files=files, data=data)
        else:
            response = client.post(
                "/api/v1/upload/", data={"face_limit": "1000"}, files={"x": ("", b"")}
            )
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] is True and body["error_code"] == code and body["status_code"] == status
    assert body["message"]
    assert_nothing_kept(stack)


def test_too_large_file(make_stack) -> None:  # type: ignore[no-untyped-def]
    stack = make_stack(MAX_UPLOAD_SIZE="2000")
    big = image_bytes(size=256) + b"\0" * 2000  # padding past the limit
    assert len(big) > 2000
    with stack.client() as client:
        response = client.post("/api/v1/upload/", files=[("files", ("big.png", big, "image/png"))])
    assert response.status_code == 413 and response.json()["error_code"] == "FILE_TOO_LARGE"
    assert_nothing_kept(stack)


def test_not_multipart_and_framework_errors_use_the_envelope(stack: Stack) -> None:
    with stack.client() as client:
        not_form = client.post(
            "/api/v1/upload/", content=b"{}", headers={"content-type": "application/json"}
        )
        missing = client.get("/api/v1/no-such-route")
        wrong_method = client.delete("/api/v1/upload/")
        bad_json = client.post("/api/v1/models/generate", json={"file_ids": "x"})
    for response, status in ((missing, 404), (wrong_method, 405), (bad_json, 422)):
        assert response.status_code == status
        assert response.json()["error"] is True and response.json()["status_code"] == status
    assert 400 <= not_form.status_code < 500 and not_form.json()["error"] is True
    assert_nothing_kept(stack)


def test_generate_from_uploaded_files_with_new_options(stack: Stack) -> None:
    from tests.jobs.test_batch_e2e import upload

    first = upload(stack, [("again.png", PNG)], delay="0")
    file_ids = [f["file_id"] for f in first["uploaded_files"]]
    with stack.client() as client:
        response = client.post("/api/v1/models/generate", json={"file_ids": file_ids, "delay": 0.1})
        assert response.status_code == 202, response.text
        assert response.json()["uploaded_files"][0]["filename"] == "again.png"
        unknown = client.post(
            "/api/v1/models/generate", json={"file_ids": ["00000000-0000-4000-8000-000000000000"]}
        )
        assert unknown.status_code == 404
    from tests.conftest import OTHER_KEY

    with stack.client(key=OTHER_KEY) as other:
        assert other.post("/api/v1/models/generate", json={"file_ids": file_ids}).status_code == 404


def test_unsupported_media_reason_shows_no_internal_repr(stack: Stack) -> None:
    with stack.client() as client:
        for content in (b"hello, I am text", PNG[: len(PNG) // 2]):
            files = [("files", ("a.png", content, "image/png"))]
            response = client.post("/api/v1/upload/", files=files)
            assert response.status_code == 415
            reason = response.json()["details"]["reason"]
            assert reason and "<" not in reason and "0x" not in reason, reason


@pytest.mark.parametrize("field", ["provider", "model", "seed", "face_limit", "texture"])
def test_a_blank_option_means_the_default(stack: Stack, field: str) -> None:
    """The documented rule: an empty (or blank) form value is the same as leaving it out."""
    with stack.client() as client:
        files = [("files", ("a.png", PNG, "image/png"))]
        plain = client.post("/api/v1/upload/", files=files).json()["job_id"]
        defaults = client.get(f"/api/v1/models/job/{plain}").json()["options"]
        for blank in ("", "  "):
            response = client.post("/api/v1/upload/", files=files, data={field: blank})
            assert response.status_code == 202, response.text
            job = response.json()["job_id"]
            assert client.get(f"/api/v1/models/job/{job}").json()["options"] == defaults


ANONYMOUS_BAD_REQUESTS = [
    ("GET", "/api/v1/download/00000000-0000-4000-8000-000000000000/a.glb?format=nope", None),
    ("GET", "/api/v1/models/download/00000000-0000-4000-8000-000000000000?format=nope", None),
    ("POST", "/api/v1/models/generate", b"{not json"),
    ("POST", "/api/v1/models/generate", b'{"file_ids": "x"}'),
    ("POST", "/api/v1/models/generate", b""),
]


@pytest.mark.parametrize(("method", "path", "body"), ANONYMOUS_BAD_REQUESTS)
def test_authentication_comes_before_validation(
    stack: Stack, method: str, path: str, body: bytes | None
) -> None:
    headers = {"content-type": "application/json"} if body is not None else {}
    with stack.client(key=None) as anonymous:
        response = anonymous.request(method, path, content=body, headers=headers)
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == "Bearer"
