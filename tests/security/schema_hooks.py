"""Schemathesis hooks: uploaded files are real small images, so valid cases can succeed.

OpenAPI can say a part is binary, not that it must decode as a PNG; without this every
"positive" upload would be random bytes that the server rightly refuses.
"""

from __future__ import annotations

import io

import schemathesis
from hypothesis import strategies as st
from PIL import Image
from schemathesis.transport.serialization import Binary


def _png(size: int, red: int, green: int) -> Binary:
    out = io.BytesIO()
    Image.new("RGB", (size, size), (red, green, 120)).save(out, "PNG")
    return Binary(out.getvalue())


schemathesis.openapi.format(
    "binary",
    st.builds(_png, st.integers(8, 48), st.integers(0, 255), st.integers(0, 255)),
)
