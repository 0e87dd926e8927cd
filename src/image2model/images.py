"""Accepting an uploaded image: decoded by Pillow, checked, normalised, metadata stripped."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from image2model.errors import BadRequest, PayloadTooLarge, UnsupportedMedia

FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}


@dataclass(frozen=True)
class PreparedImage:
    data: bytes
    extension: str
    content_type: str
    width: int
    height: int


def prepare_image(data: bytes, *, filename: str, max_pixels: int) -> PreparedImage:
    """The stored form of an upload: first frame, upright, no metadata; or a clear 4xx."""
    if not data:
        raise BadRequest(f"{filename} is empty", error_code="EMPTY_FILE")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = _open(data, max_pixels)
            image.load()
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise _too_many_pixels(filename, max_pixels) from None
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as error:
            raise UnsupportedMedia(
                f"{filename} is not a readable JPEG, PNG or WebP image",
                details={"filename": filename, "reason": str(error)[:200]},
            ) from None
    if image.width * image.height > max_pixels:
        raise _too_many_pixels(filename, max_pixels)
    return _normalise(image)


def _open(data: bytes, max_pixels: int) -> Image.Image:
    image = Image.open(io.BytesIO(data), formats=list(FORMATS))
    if image.width * image.height > max_pixels:
        raise Image.DecompressionBombError("too many pixels")
    return image


def _normalise(image: Image.Image) -> PreparedImage:
    upright = ImageOps.exif_transpose(image)  # first frame only for animations
    has_alpha = upright.mode in ("RGBA", "LA", "PA") or "transparency" in upright.info
    out = io.BytesIO()
    if has_alpha:
        upright.convert("RGBA").save(out, "PNG", compress_level=1)
        extension, content_type = "png", "image/png"
    else:
        upright.convert("RGB").save(out, "JPEG", quality=95)
        extension, content_type = "jpg", "image/jpeg"
    return PreparedImage(out.getvalue(), extension, content_type, upright.width, upright.height)


def _too_many_pixels(filename: str, max_pixels: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"{filename} has more than {max_pixels} pixels",
        error_code="IMAGE_TOO_LARGE",
        details={"filename": filename, "max_pixels": max_pixels},
    )


def check_size(size: int, *, filename: str, limit: int) -> None:
    if size > limit:
        raise PayloadTooLarge(
            f"{filename} is larger than {limit} bytes",
            details={"filename": filename, "max_bytes": limit},
        )
