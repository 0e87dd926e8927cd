"""A full disk refuses uploads with 507 and leaves nothing behind (a real, tiny tmpfs)."""

from __future__ import annotations

import io
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import Stack


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
    )
    assert mounted.returncode == 0, f"this test needs root to mount a tmpfs: {mounted.stderr}"
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=True)


def test_full_disk_is_507_and_leaves_nothing(make_stack, tiny_disk: Path) -> None:  # type: ignore[no-untyped-def]
    stack: Stack = make_stack(UPLOAD_DIR=str(tiny_disk))
    noise = np.random.default_rng(1).integers(0, 256, size=(300, 300, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(noise).save(out, "PNG")
    with stack.client() as client:
        response = client.post("/api/v1/upload/", files=[("files", ("big.png", out.getvalue()))])
    assert response.status_code == 507, response.text
    assert response.json()["error_code"] == "STORAGE_FULL"
    assert not [p for p in tiny_disk.rglob("*") if p.is_file()]
    assert not stack.redis.keys("i2m:job:*")
