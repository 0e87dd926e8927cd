"""Memory of the API process under 20 concurrent uploads at the size limit (measured here)."""

from __future__ import annotations

import io
import threading
import time

import httpx
import numpy as np
import psutil
from PIL import Image

from tests.conftest import USER_KEY
from tests.security.conftest import ApiProcess

LIMIT = 10 * 1024 * 1024
UPLOADS = 20
BUDGET_MB = 150


def photo_at_limit() -> bytes:
    """A noisy JPEG (compresses badly, so many pixels per byte), padded to exactly LIMIT."""
    rng = np.random.default_rng(7)
    pixels = rng.integers(0, 256, size=(3000, 3000, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "JPEG", quality=90)
    data = out.getvalue()
    assert len(data) <= LIMIT, len(data)
    return data + b"\0" * (LIMIT - len(data))


def test_concurrent_uploads_at_the_limit_stay_within_budget(api_process) -> None:  # type: ignore[no-untyped-def]
    api: ApiProcess = api_process(MAX_UPLOAD_SIZE=str(LIMIT), MAX_ACTIVE_JOBS_PER_KEY="0")
    body = photo_at_limit()
    process = psutil.Process(api.process.pid)
    for _ in range(2):  # warm up imports and pools so the baseline is the steady state
        response = httpx.post(
            f"{api.url}/api/v1/upload/",
            files=[("files", ("warm.jpg", body, "image/jpeg"))],
            headers={"Authorization": f"Bearer {USER_KEY}"},
            timeout=120,
        )
        assert response.status_code == 202, response.text
    baseline = process.memory_info().rss
    peak = baseline
    done = threading.Event()

    def watch() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, process.memory_info().rss)
            time.sleep(0.01)

    def send(index: int, statuses: list[int]) -> None:
        files = [("files", (f"photo{index}.jpg", body, "image/jpeg"))]
        response = httpx.post(
            f"{api.url}/api/v1/upload/",
            files=files,
            headers={"Authorization": f"Bearer {USER_KEY}"},
            timeout=300,
        )
        statuses.append(response.status_code)

    watcher = threading.Thread(target=watch)
    watcher.start()
    statuses: list[int] = []
    senders = [threading.Thread(target=send, args=(i, statuses)) for i in range(UPLOADS)]
    for thread in senders:
        thread.start()
    for thread in senders:
        thread.join()
    done.set()
    watcher.join()
    growth_mb = (peak - baseline) / 2**20
    mb = 2**20
    print(f"API RSS: baseline {baseline / mb:.0f} MB, peak {peak / mb:.0f} MB, +{growth_mb:.0f} MB")
    assert statuses == [202] * UPLOADS
    assert growth_mb <= BUDGET_MB
