"""Hostile uploads: each gets a clear 4xx, never a 5xx, and nothing is stored."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import httpx
import pytest
from PIL import Image

from image2model.keys import ACTIVE_JOBS
from tests.conftest import USER_KEY, Stack, image_bytes

LIMIT = 200_000


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_with(*extra: bytes, width: int = 8, height: int = 8) -> bytes:
    header = chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
    pixels = zlib.compress(b"\0" * (width + 1) * min(height, 64))
    return (
        b"\x89PNG\r\n\x1a\n"
        + header
        + b"".join(extra)
        + chunk(b"IDAT", pixels)
        + chunk(b"IEND", b"")
    )


def animated(fmt: str) -> bytes:
    frames = [Image.new("RGB", (16, 16), c) for c in ((255, 0, 0), (0, 255, 0))]
    out = io.BytesIO()
    frames[0].save(out, fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)
    return out.getvalue()


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 64), (10, 200, 30)).save(out, "JPEG")
    return out.getvalue()


def multipart(parts: list[tuple[str, str | None, bytes]], boundary: str = "xyz") -> bytes:
    body = b""
    for name, filename, data in parts:
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        body += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n".encode()
        body += b"Content-Type: image/png\r\n\r\n" if filename is not None else b"\r\n"
        body += data + b"\r\n"
    return body + f"--{boundary}--\r\n".encode()


PNG = image_bytes()
BOMB = png_with(width=20_000, height=20_000)
ZTXT_BOMB = png_with(chunk(b"zTXt", b"comment\0\0" + zlib.compress(b"A" * 80_000_000, 9)))
CORPUS: dict[str, tuple[bytes, str, int]] = {
    # name: (raw multipart body, content type, expected status)
    "decompression bomb 20000x20000": (multipart([("files", "bomb.png", BOMB)]), "", 413),
    "one byte over the limit": (
        multipart([("files", "big.png", PNG + b"\0" * (LIMIT + 1 - len(PNG)))]),
        "",
        413,
    ),
    "zero bytes": (multipart([("files", "zero.png", b"")]), "", 400),
    "truncated jpeg": (multipart([("files", "cut.jpg", jpeg()[:300])]), "", 415),
    "html renamed png": (
        multipart([("files", "page.png", b"<!doctype html><script>alert(1)</script>")]),
        "",
        415,
    ),
    "svg renamed png": (
        multipart([("files", "draw.png", b'<svg xmlns="http://www.w3.org/2000/svg"/>')]),
        "",
        415,
    ),
    "text renamed png": (multipart([("files", "notes.png", b"just some text\n" * 20)]), "", 415),
    "gif-javascript polyglot": (
        multipart([("files", "poly.png", b"GIF89a/*\x01\x00\x01\x00*/=alert(1)//")]),
        "",
        415,
    ),
    "html then png polyglot": (multipart([("files", "poly2.png", b"<html>" + PNG)]), "", 415),
    "png with a ztxt bomb": (multipart([("files", "text.png", ZTXT_BOMB)]), "", 415),
    "animated gif": (multipart([("files", "anim.gif", animated("GIF"))]), "", 415),
    "animated webp": (multipart([("files", "anim.webp", animated("WEBP"))]), "", 415),
    "26 files": (multipart([("files", f"{i}.png", PNG) for i in range(26)]), "", 400),
    "100 form fields": (
        multipart([("files", "a.png", PNG)] + [(f"f{i}", None, b"1") for i in range(100)]),
        "",
        400,
    ),
    "malformed multipart": (b"--xyz\r\nContent-Disposition: form-data\r\n\r\nnope", "", 400),
    "missing boundary": (multipart([("files", "a.png", PNG)]), "multipart/form-data", 400),
    "dot-dot filename": (multipart([("files", "../../x.png", PNG)]), "", 400),
    "backslash filename": (multipart([("files", "..\\..\\x.png", PNG)]), "", 400),
    "nul in filename": (multipart([("files", "a\0.png", PNG)]), "", 400),
    "very long filename": (multipart([("files", "a" * 5000 + ".png", PNG)]), "", 400),
}


@pytest.fixture
def small_stack(make_stack) -> Stack:  # type: ignore[no-untyped-def]
    return make_stack(MAX_UPLOAD_SIZE=str(LIMIT))  # type: ignore[no-any-return]


@pytest.mark.parametrize("case", CORPUS, ids=list(CORPUS))
def test_attack_corpus(small_stack: Stack, case: str) -> None:
    body, content_type, expected = CORPUS[case]
    headers = {
        "Authorization": f"Bearer {USER_KEY}",
        "Content-Type": content_type or "multipart/form-data; boundary=xyz",
    }
    response = httpx.post(
        f"{small_stack.base_url}/api/v1/upload/", content=body, headers=headers, timeout=60
    )
    assert response.status_code == expected, response.text
    envelope = response.json()
    assert envelope["error"] is True and envelope["status_code"] == expected and envelope["message"]
    assert small_stack.redis.scard(ACTIVE_JOBS) == 0
    assert not small_stack.redis.keys("i2m:job:*")
    uploads = Path(small_stack.env["DATA_DIR"]) / "uploads"
    assert not [p for p in uploads.rglob("*") if p.is_file()]


def test_stored_copy_is_upright_and_stripped(stack: Stack) -> None:
    image = Image.new("RGB", (40, 20), (200, 30, 30))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise when shown
    exif[0x010F] = "SecretCam"
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif.tobytes())
    data = out.getvalue() + b"<script>trailing</script>"
    with stack.client() as client:
        response = client.post(
            "/api/v1/upload/", files=[("files", ("cam.jpg", data, "image/jpeg"))]
        )
    assert response.status_code == 202, response.text
    stored = [p for p in (Path(stack.env["DATA_DIR"]) / "uploads").rglob("*") if p.is_file()]
    assert len(stored) == 1 and stored[0].name.startswith(
        response.json()["uploaded_files"][0]["file_id"]
    )
    raw = stored[0].read_bytes()
    assert b"SecretCam" not in raw and b"<script>" not in raw
    with Image.open(stored[0]) as kept:
        assert kept.size == (20, 40), "EXIF orientation applied"
        assert not kept.getexif()
