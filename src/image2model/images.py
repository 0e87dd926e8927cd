"""Accepting an uploaded image: decoded by Pillow, checked, normalised, metadata stripped."""

from __future__ import annotations

import io
import re
import warnings
from dataclasses import dataclass
from typing import BinaryIO

from PIL import Image, ImageOps, UnidentifiedImageError

from image2model.errors import BadRequest, PayloadTooLarge, UnsupportedMedia

MAX_FILENAME = 255
FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}


@dataclass(frozen=True)
class PreparedImage:
    data: bytes
    extension: str
    content_type: str
    width: int
    height: int


def prepare_image(source: BinaryIO, *, filename: str, max_pixels: int) -> PreparedImage:
    """The stored form of an upload: first frame, upright, no metadata; or a clear 4xx.

    Animated images (WebP, APNG) are refused rather than silently cut to one frame.
    """
    if not source.read(1):
        raise BadRequest(f"{filename} is empty", error_code="EMPTY_FILE")
    source.seek(0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = _open(source, max_pixels)
            image.load()
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise _too_many_pixels(filename, max_pixels) from None
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as error:
            raise UnsupportedMedia(
                f"{filename} is not a readable JPEG, PNG or WebP image",
                details={"filename": filename, "reason": _reason(error)},
            ) from None
    if image.width * image.height > max_pixels:
        raise _too_many_pixels(filename, max_pixels)
    if getattr(image, "is_animated", False):
        raise UnsupportedMedia(
            f"{filename} is animated; upload a still image",
            error_code="ANIMATED_IMAGE",
            details={"filename": filename},
        )
    return _normalise(image)


def _reason(error: Exception) -> str:
    """Why decoding failed, in the decoder's words minus any object repr of our internals."""
    if isinstance(error, UnidentifiedImageError):
        return "unrecognised file format"
    return re.sub(r"\s*<[^<>]*>", "", str(error)).strip()[:200] or type(error).__name__


def _open(source: BinaryIO, max_pixels: int) -> Image.Image:
    image = Image.open(source, formats=list(FORMATS))
    if image.width * image.height > max_pixels:
        raise Image.DecompressionBombError("too many pixels")
    return image


def _normalise(image: Image.Image) -> PreparedImage:
    """Re-encode without metadata; in place where possible, as a photo's pixels are large."""
    ImageOps.exif_transpose(image, in_place=True)
    has_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
    mode, fmt, extension = ("RGBA", "PNG", "png") if has_alpha else ("RGB", "JPEG", "jpg")
    pixels = image if image.mode == mode else image.convert(mode)
    out = io.BytesIO()
    if has_alpha:
        pixels.save(out, fmt, compress_level=1)
    else:
        pixels.save(out, fmt, quality=95)
    return PreparedImage(out.getvalue(), extension, FORMATS[fmt], pixels.width, pixels.height)


def check_filename(filename: str | None) -> str:
    """A client's file name, refused when it looks like a path or is unreasonably long."""
    name = filename or "image"
    if len(name) > MAX_FILENAME or any(c in name for c in "/\\") or not name.isprintable():
        raise BadRequest(
            "File names must be plain names of at most 255 printable characters",
            error_code="INVALID_FILENAME",
            details={"filename": name[:100]},
        )
    return name


def _too_many_pixels(filename: str, max_pixels: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"{filename} has more than {max_pixels} pixels",
        error_code="IMAGE_TOO_LARGE",
        details={"filename": filename, "max_pixels": max_pixels},
    )
