"""The image as fal receives it: a data URI inside the submit body.

Why a data URI rather than fal storage (`fal_client.upload_file`):
- fal-client's storage and CDN hosts (`rest.fal.ai`, `v3.fal.media`) are hard-coded and cannot be
  pointed at a gateway or a test server; the queue host can. One host to configure and trust.
- One request per item on the path that costs money, not three (token, upload, submit), and no
  stored copy at fal to expire or leak: the image lives only in the request.
- A rerun never uploads again: the submit either happened (its id is stored) or it did not.
The cost is size: the body carries the image base64-encoded (+33 %), so large images are
downscaled to `MAX_SIDE` and re-encoded until they fit `MAX_BYTES`. Image-to-3D models work at
about 512–1024 px, so nothing they use is lost.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path

from PIL import Image

MAX_SIDE = 2048
MAX_BYTES = 3 * 1024 * 1024
"""Largest encoded image sent (before base64); keeps the submit body near 4 MB at most."""
_SIDES = (MAX_SIDE, 1536, 1024, 768, 512)
_PASSTHROUGH = {"PNG": "image/png", "JPEG": "image/jpeg"}


def data_uri(path: Path) -> str:
    """A `data:` URI for the image at `path`, re-encoded only when it is too big or not PNG/JPEG."""
    raw = path.read_bytes()
    with Image.open(io.BytesIO(raw)) as image:
        image.load()
        mime = _PASSTHROUGH.get(image.format or "")
        if mime and len(raw) <= MAX_BYTES and max(image.size) <= MAX_SIDE:
            return _encode(raw, mime)
        return _encode(*_shrink(image))


def _shrink(image: Image.Image) -> tuple[bytes, str]:
    transparent = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
    image = image.convert("RGBA" if transparent else "RGB")
    for side in _SIDES:
        copy = image.copy()
        copy.thumbnail((side, side), Image.Resampling.LANCZOS)
        out = io.BytesIO()
        if transparent:
            copy.save(out, "PNG", optimize=True)
        else:
            copy.save(out, "JPEG", quality=90)
        if out.tell() <= MAX_BYTES:
            return out.getvalue(), "image/png" if transparent else "image/jpeg"
    return out.getvalue(), "image/png" if transparent else "image/jpeg"


def _encode(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
