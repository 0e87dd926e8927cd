"""The shared slot cap on a real Redis, and the image sent inside the submit body."""

from __future__ import annotations

import base64
import io
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import redis
from PIL import Image

from image2model.keys import FAL_SLOTS, FAL_SLOTS_FREED
from image2model.providers.base import Cancelled
from image2model.providers.fal.image import MAX_BYTES, MAX_SIDE, data_uri
from image2model.providers.fal.slots import SlotPool
from tests.conftest import redis_url
from tests.support.waiting import wait_until


def redis_ms(client: redis.Redis) -> int:
    """Redis server time in ms, the clock slot expiries are scored in."""
    seconds, micros = client.time()
    return seconds * 1000 + micros // 1000


@pytest.fixture
def client() -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(redis_url(), decode_responses=True)
    connection.delete(FAL_SLOTS)
    yield connection
    connection.delete(FAL_SLOTS)
    connection.close()


def test_slots_cap_holders_and_free_the_dead(client: redis.Redis) -> None:
    pool = SlotPool(client, capacity=2, ttl_ms=300)
    assert pool.try_acquire("a") and pool.try_acquire("b")
    assert not pool.try_acquire("c"), "cap reached"
    assert pool.try_acquire("a"), "a holder re-entering keeps its slot"
    assert pool.try_acquire("resumed", force=True), "a running request is always counted"
    assert pool.in_use() == 3
    pool.release("resumed")
    pool.release("b")
    assert pool.try_acquire("c") and not pool.try_acquire("d")
    c_expires = client.zscore(FAL_SLOTS, "c")
    assert c_expires is not None
    wait_until(lambda: redis_ms(client) >= c_expires - 100, timeout=5, what="c 200 ms old")
    assert pool.renew("a")
    # c never renewed: its worker "died"
    wait_until(lambda: redis_ms(client) >= c_expires, timeout=5, what="c's slot to expire")
    assert pool.try_acquire("d"), "an expired holder frees its slot"
    assert pool.in_use() == 2


def test_hold_releases_on_error_and_a_release_wakes_a_waiter(client: redis.Redis) -> None:
    # a waiter that is not woken looks again only after 60 s: far past the join below
    pool = SlotPool(client, capacity=1, recheck_seconds=60)
    with pytest.raises(RuntimeError), pool.hold(lambda: None):
        raise RuntimeError("boom")
    assert pool.in_use() == 0
    client.delete(FAL_SLOTS_FREED)  # no token left over from that release
    assert pool.try_acquire("other")

    checks: list[int] = []
    held: list[str] = []

    def waiter() -> None:
        with pool.hold(lambda: checks.append(1)) as holder:
            held.append(holder)

    thread = threading.Thread(target=waiter)
    thread.start()
    wait_until(lambda: checks, timeout=5, what="the waiter to find the pool full")
    pool.release("other")
    thread.join(timeout=10)
    assert held and checks == [1], "the release woke the waiter, which then took the slot"
    assert pool.in_use() == 0


def test_a_cancelled_waiter_stops_waiting(client: redis.Redis) -> None:
    pool = SlotPool(client, capacity=1, recheck_seconds=0.1)
    assert pool.try_acquire("other")
    checks: list[int] = []

    def check() -> None:
        checks.append(1)
        if len(checks) == 3:
            raise Cancelled

    with pytest.raises(Cancelled), pool.hold(check):
        pass
    assert pool.in_use() == 1


def _image(path: Path, size: tuple[int, int], fmt: str, mode: str = "RGB") -> Path:
    noise = np.random.default_rng(1).integers(0, 255, (size[1], size[0], len(mode)), np.uint8)
    Image.fromarray(noise.squeeze(), mode).save(path, fmt)
    return path


def _decode(uri: str) -> tuple[str, Image.Image, int]:
    header, encoded = uri.split(",", 1)
    data = base64.b64decode(encoded)
    return header, Image.open(io.BytesIO(data)), len(data)


def test_small_png_and_jpeg_are_sent_unchanged(tmp_path: Path) -> None:
    for fmt, mime in (("PNG", "image/png"), ("JPEG", "image/jpeg")):
        path = _image(tmp_path / f"a.{fmt.lower()}", (300, 200), fmt)
        uri = data_uri(path)
        assert uri.startswith(f"data:{mime};base64,")
        assert base64.b64decode(uri.split(",", 1)[1]) == path.read_bytes()


def test_large_images_are_downscaled_to_fit(tmp_path: Path) -> None:
    noisy = _image(tmp_path / "big.png", (3000, 2500), "PNG")
    assert os.path.getsize(noisy) > MAX_BYTES
    header, image, size = _decode(data_uri(noisy))
    assert header == "data:image/jpeg;base64" and size <= MAX_BYTES
    assert max(image.size) <= MAX_SIDE and image.size[0] > image.size[1]

    alpha = _image(tmp_path / "cutout.png", (2600, 2600), "PNG", mode="RGBA")
    header, image, size = _decode(data_uri(alpha))
    assert header == "data:image/png;base64" and image.mode == "RGBA" and size <= MAX_BYTES

    webp = _image(tmp_path / "w.webp", (200, 100), "WEBP")
    header, image, _ = _decode(data_uri(webp))
    assert header == "data:image/jpeg;base64" and image.size == (200, 100)
